//! End-to-end tests: a real IdP on a random localhost port, driven over HTTP by a cookie-jar
//! client and by the `openidconnect` crate as a real relying party. Every test runs on SQLite
//! and PostgreSQL and creates its own database, realm, client and members.

mod oidc_flow;
