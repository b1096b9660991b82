//! The Store contract, run against every backend: each guard of an appointment change holds,
//! a refused change writes nothing, and the audit log cannot be edited. PostgreSQL joins when
//! `BARS_TEST_POSTGRES_URL` names a server (each test gets a schema of its own).

// Test code: a panic is the test failing (clippy.toml lets #[test] functions unwrap; this lets
// their helpers too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod events;
mod required;
mod shared;
mod sql_source;
mod tls;
mod traced;
mod wal;

use std::sync::Arc;

use bars_store::Store;
use bars_store::testing::PgTestSchema;

/// A backend's name, its store, and whatever keeps the store's database alive.
pub type Backend = (&'static str, Arc<dyn Store>, Box<dyn std::any::Any + Send>);

/// A fresh, empty store of each available backend.
pub async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = bars_store::sqlite::SqliteStore::open(dir.path().join("contract.db")).unwrap();
    let mut all: Vec<Backend> = vec![("sqlite", Arc::new(sqlite), Box::new(dir))];
    match PgTestSchema::create().await {
        Some(schema) => {
            let store = bars_store::open(&schema.url).await.unwrap();
            all.push(("postgres", store, Box::new(schema)));
        }
        None => bars_store::testing::note_skipped("the postgres backend of the contract"),
    }
    all
}
