//! The Store contract, run against every backend: each guard of an appointment change holds,
//! a refused change writes nothing, and the audit log cannot be edited.

mod cases;

use std::sync::Arc;

use bars_store::Store;

/// A fresh, empty store of each available backend, with whatever keeps it alive.
pub async fn backends() -> Vec<(&'static str, Arc<dyn Store>, Box<dyn std::any::Any + Send>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = bars_store::sqlite::SqliteStore::open(dir.path().join("contract.db")).unwrap();
    vec![("sqlite", Arc::new(sqlite), Box::new(dir))]
}
