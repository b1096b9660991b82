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

impl Migrations {
    /// The index of the first step to apply to a database at step `applied`. Refuses a
    /// database written by a newer build rather than guessing.
    pub fn first_pending(&self, applied: i64) -> Result<usize, StoreError> {
        let want = self.steps.len() as i64;
        if applied > want {
            return Err(StoreError::Internal(format!(
                "the database's {} schema is at step {applied}, newer than this build's {want}",
                self.component
            )));
        }
        Ok(applied.max(0) as usize)
    }

    /// Succeeds when a database at step `applied` is at the step this build expects.
    pub fn check_current(&self, applied: i64) -> Result<(), StoreError> {
        if applied != self.steps.len() as i64 {
            return Err(StoreError::Unavailable(format!(
                "the {} schema is at step {applied}, expected {}",
                self.component,
                self.steps.len()
            )));
        }
        Ok(())
    }
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

/// Makes the functions a step may call beyond SQLite's own callable on `conn`: steps that
/// move rows to a new layout compute what the code would have written.
fn register_step_functions(conn: &Connection) -> Result<(), StoreError> {
    super::requests::register_key_hash(conn).map_err(super::classify)
}

/// Brings `migrations` up to date, one transaction per step. Refuses a database written by a
/// newer build rather than guessing.
pub fn apply(conn: &mut Connection, migrations: &Migrations) -> Result<(), StoreError> {
    let first = migrations.first_pending(applied(conn, migrations.component)?)?;
    if first < migrations.steps.len() {
        register_step_functions(conn)?;
    }
    for (i, step) in migrations.steps.iter().enumerate().skip(first) {
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
    migrations
        .iter()
        .try_for_each(|m| m.check_current(applied(conn, m.component)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: Migrations = Migrations {
        component: "test",
        steps: &["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (x INTEGER)"],
    };

    #[test]
    fn a_schema_resumes_after_its_last_step_and_refuses_a_newer_build() {
        assert_eq!(TWO.first_pending(0), Ok(0));
        assert_eq!(TWO.first_pending(1), Ok(1));
        assert_eq!(TWO.first_pending(2), Ok(2));
        assert!(
            matches!(TWO.first_pending(3), Err(StoreError::Internal(m)) if m.contains("newer"))
        );
        assert_eq!(TWO.check_current(2), Ok(()));
        assert!(matches!(
            TWO.check_current(1),
            Err(StoreError::Unavailable(_))
        ));
    }

    #[test]
    fn a_database_of_a_newer_build_is_refused_at_open() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &TWO).unwrap();
        let one = Migrations {
            component: "test",
            steps: &TWO.steps[..1],
        };
        assert!(matches!(
            apply(&mut conn, &one),
            Err(StoreError::Internal(_))
        ));
        assert!(check(&conn, &[&TWO]).is_ok());
        assert!(check(&conn, &[&one]).is_err());
    }
}
