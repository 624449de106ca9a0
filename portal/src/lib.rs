//! Kenpo portal: the member portal of a health-insurance society. An OpenID Connect relying
//! party of Kenpo ID (it knows the IdP only through discovery), with its own database, that
//! shows members their specific health checkup results (特定健診結果) in bands A < B < C < D.

pub mod access;
pub mod admin;
pub mod checkups;
pub mod cli;
pub mod config;
pub mod error;
pub mod oidc_client;
pub mod server;
pub mod state;
pub mod store;
pub mod web;
