//! Integration tests of the IdP crate, in one test binary (one link for all of them):
//!
//! - `store`: drift guards between `idp/src/store/schema.rs` and the migrations of both
//!   backends, type round trips, concurrent writers, idempotent migrations (STYLE §6).
//! - `pg_connections`: a store's PostgreSQL connections survive a server that drops them.
//! - `batched_lookup`: bearer-token lookups batched on PostgreSQL answer each request with its
//!   own row, and a failed batch fails only its own lookups.
//! - `cli`: the real `kenpo-idp` binary as union IT scripts it (SPEC §2, §12).
//!
//! Every store test runs on SQLite (a temp file) and PostgreSQL (a fresh database, dropped
//! afterwards). Without a reachable PostgreSQL the `postgres` variants print
//! "PostgreSQL tests NOT run: <reason>" and return, unless `KENPO_REQUIRE_POSTGRES=1`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod batched_lookup;
mod cli;
mod pg_connections;
mod store;
