//! The Endpoint Catalogue of BaRS Core 1.5.0 (delta section 6): `/HealthcareService` and
//! `/Endpoint` (search, read, create, update, delete) and `/Endpoint/$template`, answered by the
//! proxy itself from the directory it routes by.
//!
//! Read in this order: [`record`] (the records and the OAS14 shape they are written in),
//! [`shape`] (reading every shape in circulation), [`rules`] (each write decided, pure),
//! [`state`] (the whole catalogue and routing), [`search`], [`api`] (the HTTP edge),
//! [`errors`] (the one place refusals become OperationOutcomes), [`seed`] (configured
//! entries as records).

pub mod api;
pub mod errors;
pub mod record;
pub mod rules;
pub mod search;
pub mod seed;
pub mod shape;
pub mod state;

#[cfg(test)]
mod tests;
