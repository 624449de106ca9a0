//! HTTP only: routes, request helpers, handlers (parse → call the domain → render), pages.

pub mod extract;
pub mod handlers;
pub mod render;
pub mod results;
pub mod routes;
