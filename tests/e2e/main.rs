//! End-to-end tests: a real IdP on a random localhost port, driven over HTTP by a cookie-jar
//! client and by the `openidconnect` crate as a real relying party. Every test runs on SQLite
//! and PostgreSQL and creates its own database, realm, client and members.

mod oidc_flow;
mod passkeys;
mod portal;
mod replicas;
mod required_actions;
mod second_factors;

mod common;

mod authorize_errors;
mod backchannel;
mod browser_harness;
mod browser_passkey;
mod client_auth;
mod login_answers;
mod login_page;
mod logout;
mod pkce;
mod prompt_sso;
mod refresh;
mod resource_endpoints;
mod token_grants;
