//! Durable state for the BaRS roles.
//!
//! One [`Store`] contract, one implementation per database. The concurrency-critical statements
//! (the guarded slot claim, the versioned update, the unique index on active bookings) are
//! written per backend on purpose: they are exactly where SQLite and PostgreSQL differ.
//!
//! Every appointment change goes through [`Store::commit_appointment`], which applies an
//! [`AppointmentChange`] atomically and re-checks its guards inside the transaction.

mod columns;
pub mod contract;
pub mod error;
pub mod model;
pub mod postgres;
pub mod provider_model;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

pub use contract::Store;
pub use error::{CommitError, PutError, StoreError, WithdrawError};
pub use model::*;
pub use provider_model::*;

/// Opens the store a database URL names: `sqlite://path`, `sqlite:path` or a bare file path
/// (SQLite, created if missing), or `postgres://...` / `postgresql://...` (PostgreSQL, with the
/// pool parameters [`postgres::config`] describes). Either way the schema is brought up to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if postgres::is_postgres_url(url) {
        return Ok(Arc::new(postgres::PgStore::connect(url).await?));
    }
    let path = sqlite_path(url)?;
    Ok(Arc::new(sqlite::SqliteStore::open(path)?))
}

/// The file a SQLite URL names: `sqlite://path`, `sqlite:path` or a bare path.
pub fn sqlite_path(url: &str) -> Result<&str, StoreError> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        return Ok(path);
    }
    if url.contains("://") {
        return Err(StoreError::Internal(format!(
            "unsupported database URL scheme in {}",
            postgres::redact(url)
        )));
    }
    Ok(url)
}
