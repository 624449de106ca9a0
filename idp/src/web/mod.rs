//! HTTP edge: routes, extractors, rendering and the handlers. Handlers parse, call one domain
//! function and render; no SQL and no crypto here.

pub mod actions;
pub mod devmail;
pub mod extract;
pub mod factors;
pub mod login;
pub mod logout;
pub mod oidc;
pub mod render;
pub mod routes;
