//! The sender-facing REST API: handlers that translate HTTP to the booking service and back.
//!
//! Read in this order: [`routes`] (the router, derived from the capability tables, and its
//! layers), [`reads`] and [`writes`] (the handlers), [`request`] (what every handler reads
//! from a request first) and [`headers`] (the HTTP headers of versions and preferences).

pub mod headers;
pub mod reads;
pub mod request;
pub mod routes;
pub mod search;
pub mod writes;
