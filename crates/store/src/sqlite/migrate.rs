//! Schema migrations for every component sharing a database: each component (the receiver,
//! the registry, ...) has its own append-only list of steps, and the database records how many
//! of each it has applied.

use rusqlite::Connection;

use crate::error::StoreError;

/// One component's schema: its name and its steps, oldest first.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    pub component: &'static str,
    pub steps: &'static [&'static str],
}

const LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migration (component TEXT PRIMARY KEY, step INTEGER NOT NULL)";

/// How many steps of `component` the database has applied.
pub fn applied(conn: &Connection, component: &str) -> Result<i64, StoreError> {
    conn.execute_batch(LEDGER).map_err(super::classify)?;
    conn.query_row(
        "SELECT COALESCE(MAX(step), 0) FROM schema_migration WHERE component = ?1",
        [component],
        |r| r.get(0),
    )
    .map_err(super::classify)
}

/// Brings `migrations` up to date, one transaction per step. Refuses a database written by a
/// newer build rather than guessing.
pub fn apply(conn: &mut Connection, migrations: &Migrations) -> Result<(), StoreError> {
    let at = applied(conn, migrations.component)?;
    let want = migrations.steps.len() as i64;
    if at > want {
        return Err(StoreError::Internal(format!(
            "the database's {} schema is at step {at}, newer than this build's {want}",
            migrations.component
        )));
    }
    for (i, step) in migrations.steps.iter().enumerate().skip(at as usize) {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(super::classify)?;
        tx.execute_batch(step).map_err(|e| {
            StoreError::Internal(format!(
                "{} schema step {}: {e}",
                migrations.component,
                i + 1
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migration (component, step) VALUES (?1, ?2) ON CONFLICT (component) DO UPDATE SET step = excluded.step",
            rusqlite::params![migrations.component, (i + 1) as i64],
        )
        .map_err(super::classify)?;
        tx.commit().map_err(super::classify)?;
    }
    Ok(())
}

/// Succeeds when every component is at the step this build expects.
pub fn check(conn: &Connection, migrations: &[&Migrations]) -> Result<(), StoreError> {
    for m in migrations {
        let at = applied(conn, m.component)?;
        if at != m.steps.len() as i64 {
            return Err(StoreError::Unavailable(format!(
                "the {} schema is at step {at}, expected {}",
                m.component,
                m.steps.len()
            )));
        }
    }
    Ok(())
}
