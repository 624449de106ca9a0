//! Browser flows as explicit state machines (pure `step` functions) plus the service that
//! loads a flow, applies the member's input, persists the result and names the next page.

pub mod actions;
pub mod login;
pub mod service;
pub mod session;
