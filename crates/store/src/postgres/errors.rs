//! Classifies PostgreSQL failures by what the caller can do about them.
//!
//! A server that is down, restarting, out of connections or cancelling a statement that ran
//! past `statement_timeout` may answer later: [`StoreError::Unavailable`] (503). Anything
//! else (a malformed statement, a missing table, a value that does not convert) is a fault in
//! the store: [`StoreError::Internal`] (500).
//!
//! Serialization failures and deadlocks are neither: the transaction should simply run again.
//! Their mapping to an error type happens deep in query code, so the transaction runner learns
//! of them through a task-local flag that [`db`] raises (see [`super::database`]).

use std::cell::Cell;

use tokio_postgres::error::SqlState;

use crate::error::StoreError;

tokio::task_local! {
    /// Raised when a statement of the transaction in progress failed in a way that running
    /// the whole transaction again can cure (40001, 40P01).
    pub(super) static RETRYABLE: Cell<bool>;
}

/// True when a statement failed on a unique constraint (23505).
pub fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn retryable(code: &SqlState) -> bool {
    *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
}

fn transient(code: &SqlState) -> bool {
    let class = &code.code()[..2];
    // 08 connection exception, 53 insufficient resources (too many connections, disk full),
    // 57 operator intervention (query cancelled by statement_timeout, admin shutdown, crash
    // recovery), 58 system error (I/O), 40 transaction rollback.
    matches!(class, "08" | "53" | "57" | "58" | "40")
        || *code == SqlState::LOCK_NOT_AVAILABLE
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
}

/// Maps a driver error to a [`StoreError`], noting a retryable one for the transaction runner.
pub fn db(e: tokio_postgres::Error) -> StoreError {
    if let Some(code) = e.code() {
        if retryable(code) {
            let _ = RETRYABLE.try_with(|flag| flag.set(true));
        }
        let detail = e
            .as_db_error()
            .map(|d| format!("{} ({})", d.message(), code.code()))
            .unwrap_or_else(|| e.to_string());
        return if transient(code) {
            StoreError::Unavailable(detail)
        } else {
            StoreError::Internal(detail)
        };
    }
    // No SQLSTATE: the connection broke, could not be opened, or timed out - the server is
    // unreachable; or a value did not convert - a fault in the store.
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    let text = e.to_string();
    if e.is_closed() || io || text.contains("timed out") || text.contains("connect") {
        StoreError::Unavailable(text)
    } else {
        StoreError::Internal(text)
    }
}

/// Maps a pool failure: no connection within the pool's timeouts, or none could be opened.
pub fn pool(e: deadpool_postgres::PoolError) -> StoreError {
    use deadpool_postgres::PoolError;
    match e {
        PoolError::Backend(e) => db(e),
        PoolError::Timeout(kind) => StoreError::Unavailable(format!(
            "no database connection available in time ({kind:?})"
        )),
        PoolError::Closed => StoreError::Unavailable("the connection pool is closed".into()),
        PoolError::NoRuntimeSpecified => {
            StoreError::Internal("the connection pool has no runtime".into())
        }
        PoolError::PostCreateHook(e) => StoreError::Unavailable(e.to_string()),
    }
}

/// A value read back that does not fit its type: corruption or a bug, never the caller's.
pub fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("unreadable stored value: {what}"))
}
