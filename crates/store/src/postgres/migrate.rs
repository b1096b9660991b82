//! Schema migrations on PostgreSQL: the same ledger as SQLite's (`schema_migration`, one row
//! per component with the number of steps applied), applied in one transaction under a
//! transaction-scoped advisory lock. Instances starting together therefore take turns: the
//! second waits, then finds the steps already applied. DDL is transactional in PostgreSQL, so
//! a failing step leaves nothing half-done.
//!
//! The lock is keyed by the schema, so databases that keep several deployments (or test runs)
//! in separate schemas do not wait for each other.

use deadpool_postgres::GenericClient;

use super::errors::db;
use super::sql;
use crate::error::StoreError;
use crate::sqlite::migrate::Migrations;

const LOCK: &str = "SELECT pg_advisory_xact_lock(hashtext('bars.schema_migration'), hashtext(COALESCE(current_schema(), '')))";
const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migration (component TEXT PRIMARY KEY, step INTEGER NOT NULL)";

async fn applied<C: GenericClient>(c: &C, component: &str) -> Result<i64, StoreError> {
    let row = sql::one(
        c,
        "SELECT COALESCE(MAX(step), 0)::BIGINT FROM schema_migration WHERE component = $1",
        &[&component],
    )
    .await
    .map_err(db)?;
    Ok(row.get(0))
}

/// Brings every component up to date inside the caller's transaction. Refuses a database
/// written by a newer build rather than guessing.
pub async fn apply<C: GenericClient>(c: &C, all: &[Migrations]) -> Result<(), StoreError> {
    c.batch_execute(LOCK).await.map_err(db)?;
    c.batch_execute(LEDGER).await.map_err(db)?;
    for m in all {
        let first = m.first_pending(applied(c, m.component).await?)?;
        for (i, step) in m.steps.iter().enumerate().skip(first) {
            c.batch_execute(step).await.map_err(|e| {
                StoreError::Internal(format!("{} schema step {}: {}", m.component, i + 1, db(e)))
            })?;
            let n = (i + 1) as i32;
            sql::exec(
                c,
                "INSERT INTO schema_migration (component, step) VALUES ($1, $2)
                 ON CONFLICT (component) DO UPDATE SET step = excluded.step",
                &[&m.component, &n],
            )
            .await
            .map_err(db)?;
        }
    }
    Ok(())
}

/// Succeeds when every component is at the step this build expects.
pub async fn check<C: GenericClient>(c: &C, all: &[Migrations]) -> Result<(), StoreError> {
    for m in all {
        m.check_current(applied(c, m.component).await?)?;
    }
    Ok(())
}
