//! Kenpo ID: an OpenID Connect identity provider for Japanese health-insurance societies.
//! See ARCHITECTURE.md for the crates, the path of one login, and where each rule lives.

pub mod admin;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod flows;
pub mod mail;
pub mod mfa;
pub mod oidc;
pub mod realm;
pub mod security;
pub mod server;
pub mod state;
pub mod store;
pub mod web;
