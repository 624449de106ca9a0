//! Browser flows as explicit state machines (pure `step` functions) plus the service that
//! loads a flow, applies the member's input, persists the result and names the next page.

pub mod actions;
pub mod enrol;
pub mod factors;
pub mod login;
pub mod passkeys;
pub mod pending;
pub mod service;
pub mod session;
