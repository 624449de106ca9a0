//! Code used by both apps: configuration loading, storage plumbing, locale negotiation and
//! message catalogs, CSRF tokens, secrets that cannot leak through `Debug`, and tracing set-up.

pub mod config;
pub mod crypto;
pub mod csrf;
pub mod db;
pub mod i18n;
pub mod secret;
pub mod telemetry;
pub mod web;
