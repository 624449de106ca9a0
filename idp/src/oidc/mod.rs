//! The OpenID Connect provider, protocol side: request validation, client authentication,
//! grants, token building and signing, discovery. Nothing here imports the web framework.

pub mod authorize;
pub mod backchannel;
pub mod bearer;
pub mod claims;
pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod introspect;
pub mod jose;
pub mod keys;
pub mod logout;
pub mod token;
pub mod tokens;
