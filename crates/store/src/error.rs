//! Storage failures, split by what the caller can do about them.

/// A failure of the store itself (not a business outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or written (disk full, I/O error, server down, timeout).
    /// The request may succeed later: HTTP 503 / 500 `no-store`.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store found something it did not expect (a bug or a corrupted row): HTTP 500.
    #[error("storage error: {0}")]
    Internal(String),
}

/// Why an atomic appointment change was not applied. Each is a guard of the commit failing,
/// decided by the database inside the transaction, never by an earlier read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// A slot to claim was no longer free, or is held by another active booking.
    #[error("slot {0} is no longer free")]
    SlotUnavailable(String),
    /// The appointment changed since it was read (its version moved on).
    #[error("the appointment changed concurrently")]
    VersionConflict,
    /// A request with the same idempotency key has already been committed.
    #[error("this request has already been processed")]
    Duplicate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a new version of a reference resource or a schedule was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutError {
    /// The stored version is not the one the new version was stamped to follow: another
    /// writer got there first. The owner reads again and stamps the version after it.
    #[error("the resource changed concurrently")]
    VersionConflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a slot could not be withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WithdrawError {
    #[error("no such slot")]
    NotFound,
    #[error("only a free slot can be withdrawn; this one is {0}")]
    NotFree(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
