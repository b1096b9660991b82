//! The storage contract of the Registry, independent of any database.
//!
//! A pointer is kept as its JSON text beside the few values searches and ownership checks need
//! ([`PointerKeys`]), so the store never interprets FHIR and a backend only has to index columns.
//! Guards that decide races (the version check, the supersede check) run inside the backend's
//! transaction, never on an earlier read.

use bars_fhir::{Instant, NhsNumber};
use bars_store::StoreError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// The values of a pointer that the Registry searches on and guards with, extracted once by the
/// rules so the store never parses FHIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerKeys {
    /// The custodian's ODS code, upper-case (ODS codes compare case-insensitively).
    pub custodian: String,
    /// The patient the pointer is about.
    pub subject: NhsNumber,
    /// `system|code` of the pointer type (`type.coding[0]`).
    pub type_token: String,
    /// `system|code` of the single category coding.
    pub category_token: String,
    /// The BaRS appointment identifier (`identifier[system=BaRS-Identifier].value`), if given.
    pub appointment_id: Option<String>,
}

/// A pointer about to be written: its id, its keys and its body (which the store stamps).
#[derive(Debug, Clone)]
pub struct NewPointer {
    pub id: String,
    pub keys: PointerKeys,
    pub body: Value,
}

/// A pointer as stored: the body carries `id`, `meta.versionId` and `meta.lastUpdated`.
#[derive(Debug, Clone)]
pub struct StoredPointer {
    pub id: String,
    pub keys: PointerKeys,
    pub version: u64,
    pub last_updated: Instant,
    pub body: Value,
}

/// Where the next page of a search starts: just after the last pointer already returned, in the
/// store's stable order. Senders see it only as an opaque token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub after: i64,
}

const CURSOR_PREFIX: &str = "p1:";

impl Cursor {
    /// The opaque text form handed to callers (URL-safe, so it travels in a query string as is).
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{}", self.after))
    }

    /// Reads a token made by [`Cursor::encode`]; `None` for anything else.
    pub fn decode(token: &str) -> Option<Cursor> {
        if token.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let after = text.strip_prefix(CURSOR_PREFIX)?.parse::<i64>().ok()?;
        (after >= 0).then_some(Cursor { after })
    }
}

/// A search: the patient is always required, the other filters are optional and combine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointerQuery {
    pub subject: NhsNumber,
    pub type_token: Option<String>,
    /// Upper-case ODS code.
    pub custodian: Option<String>,
    pub category_token: Option<String>,
    pub after: Option<Cursor>,
    /// Pointers per page.
    pub limit: usize,
}

/// One page of a search.
#[derive(Debug, Clone)]
pub struct PointerPage {
    pub pointers: Vec<StoredPointer>,
    /// Every pointer matching the filters, on all pages.
    pub total: u64,
    /// Present when more pointers follow this page.
    pub next: Option<Cursor>,
}

/// Why replacing an existing pointer (`relatesTo.code = replaces`) was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SupersedeRefusal {
    #[error("the pointer to replace does not exist")]
    Missing,
    #[error("the pointer to replace has another custodian")]
    OtherCustodian,
    #[error("the pointer to replace is about another patient")]
    OtherSubject,
    #[error("the pointer to replace has another type")]
    OtherType,
}

/// Why a write was not applied. Each variant is decided inside the write's transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    #[error("no such pointer")]
    NotFound,
    /// The pointer is no longer at the version the caller expected.
    #[error("the pointer is at version {current}")]
    VersionMismatch { current: u64 },
    #[error("a pointer with this id already exists")]
    DuplicateId,
    #[error(transparent)]
    Supersede(#[from] SupersedeRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

bars_store::traced_contract! {
    /// The Registry's storage, as the role holds it (`Arc<dyn RegistryStore>`).
    pub trait RegistryStore;
    /// What a database implements to serve as a [`RegistryStore`]: the same calls, untraced;
    /// every implementor is a `RegistryStore` whose calls are traced (see
    /// [`bars_store::traced_contract`]).
    pub trait RegistryBackend;
    calls {
        /// Stores a new pointer at version 1. With `supersede`, the pointer of that id is
        /// deleted in the same transaction, provided it has the same custodian, subject and
        /// type.
        async fn create(
            &self,
            pointer: NewPointer,
            supersede: Option<String>,
        ) -> Result<StoredPointer, WriteError>;

        async fn get(&self, id: &str) -> Result<Option<StoredPointer>, StoreError>;

        /// Replaces the pointer if it is still at `expected_version`; the version grows by one.
        async fn update(
            &self,
            pointer: NewPointer,
            expected_version: u64,
        ) -> Result<StoredPointer, WriteError>;

        /// Deletes the pointer if it is still at `expected_version`.
        async fn delete(&self, id: &str, expected_version: u64) -> Result<(), WriteError>;

        /// One page of a patient's pointers, in a stable order (oldest pointer first).
        async fn search(&self, query: PointerQuery) -> Result<PointerPage, StoreError>;

        /// Succeeds when the database answers and its schema is current.
        async fn ping(&self) -> Result<(), StoreError>;
    }
    facts {
        /// Connection pool use, for the metrics endpoint.
        fn pool_status(&self) -> Vec<bars_store::PoolStatus> {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Cursor { after: 42 };
        let token = c.encode();
        assert!(
            token
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        );
        assert_eq!(Cursor::decode(&token), Some(c));
        for junk in [
            "",
            "42",
            "!!!",
            &URL_SAFE_NO_PAD.encode("p1:-1"),
            &URL_SAFE_NO_PAD.encode("p2:1"),
            &"A".repeat(100),
        ] {
            assert_eq!(Cursor::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_trait_is_dyn_compatible() {
        fn takes(_: Option<&dyn RegistryStore>) {}
        takes(None);
    }
}
