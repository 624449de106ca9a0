//! The member portal end to end: a real IdP and a real portal on random localhost ports,
//! driven over HTTP with a cookie jar; and results import on both backends.

mod flow;
mod import;
