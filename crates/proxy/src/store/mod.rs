//! The proxy's database: the endpoint catalogue and the registered sender applications (what
//! the admin API changes), and the used client-assertion `jti`s. Every proxy that shares the
//! database shares all three, so an admin change made at one proxy reaches the others, survives
//! restarts, and an assertion used at one proxy is refused at every other.
//!
//! Built on the store crate's machinery like the Registry's store: [`sqlite`] on
//! `bars_store::sqlite::Database` (one proxy), [`postgres`] on `PgDatabase` (several), chosen by
//! [`open_store`]. Both keep the same tables:
//!
//! * `proxy_catalogue`: the Endpoint Catalogue, one row per HealthcareService, Endpoint and
//!   Endpoint template: its id, version, `lastUpdated` and body (OAS14 JSON without `meta`).
//!   Searches and routing read the whole catalogue from memory, so the rows carry no search
//!   columns.
//! * `proxy_application`: the registered sender applications, each its JSON.
//! * `proxy_endpoint`: the catalogue before it was FHIR (one URL per target); a proxy that finds
//!   rows there converts them into catalogue records at start-up and empties it.
//! * `proxy_revision`: one counter that every change to the directory increases in the same
//!   transaction, so a proxy learns whether its copy is current from one small read.
//! * `proxy_seed`: each configuration-file entry as last written to the directory (see
//!   [`Seed`]).
//! * `proxy_replay`: `(client_id, jti)` until the assertion could no longer be accepted.

pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use bars_store::StoreError;
use bars_store::sqlite::migrate::Migrations;

use crate::auth::applications::Application;
use crate::endpoint::Endpoint;

pub use postgres::PgProxyStore;
pub use sqlite::SqliteProxyStore;

/// The proxy's schema steps, append-only; the same text on both backends (SQLite reads
/// `BIGINT` as an integer).
pub static MIGRATIONS: Migrations = Migrations {
    component: "proxy",
    steps: &[
        "CREATE TABLE proxy_endpoint (
            system TEXT NOT NULL,
            value TEXT NOT NULL,
            name TEXT NOT NULL,
            url TEXT NOT NULL,
            ods_code TEXT,
            PRIMARY KEY (system, value)
        );
        CREATE TABLE proxy_application (
            client_id TEXT PRIMARY KEY,
            body TEXT NOT NULL
        );
        CREATE TABLE proxy_revision (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            revision BIGINT NOT NULL
        );
        INSERT INTO proxy_revision (id, revision) VALUES (1, 0);
        CREATE TABLE proxy_seed (
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            entry TEXT NOT NULL,
            PRIMARY KEY (kind, key)
        );
        CREATE TABLE proxy_replay (
            client_id TEXT NOT NULL,
            jti TEXT NOT NULL,
            remember_until BIGINT NOT NULL,
            PRIMARY KEY (client_id, jti)
        );
        CREATE INDEX proxy_replay_by_time ON proxy_replay (remember_until);",
        "CREATE TABLE proxy_catalogue (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            version BIGINT NOT NULL,
            last_updated TEXT NOT NULL,
            body TEXT NOT NULL,
            PRIMARY KEY (kind, id)
        );",
    ],
};

/// The directory as one proxy last read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The change counter, read before the tables: a change committed meanwhile shows as a
    /// newer revision at the next look, never as a missed one.
    pub revision: i64,
    /// The Endpoint Catalogue's records.
    pub records: Vec<StoredRecord>,
    /// Entries of the pre-FHIR catalogue still waiting to be converted.
    pub legacy: Vec<Endpoint>,
    pub applications: Vec<Application>,
}

/// One catalogue record as stored: the store keeps the text it is given and never reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// `HealthcareService`, `Endpoint` or `EndpointTemplate`.
    pub kind: String,
    pub id: String,
    pub version: i64,
    pub last_updated: String,
    pub body: String,
}

/// One row change of a catalogue write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogueChange {
    /// Inserts the record, or replaces the one with its kind and id.
    Put(StoredRecord),
    Delete {
        kind: String,
        id: String,
    },
    /// Removes a pre-FHIR entry once it has been converted.
    RetireLegacy {
        system: String,
        value: String,
    },
}

/// A configuration-file endpoint as the catalogue records it describes, remembered by `key`
/// and `text` in `proxy_seed`. Written with the stored version plus one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedRecords {
    pub key: String,
    pub text: String,
    pub records: Vec<StoredRecord>,
}

/// What a seed writes: the file's endpoints (as catalogue records) and applications.
#[derive(Debug, Clone, Default)]
pub struct SeedRows {
    pub endpoints: Vec<SeedRecords>,
    pub applications: Vec<Application>,
}

/// The configuration file's endpoints and applications, written into the directory at start-up.
///
/// How the file and the admin API combine: the latest change wins. An entry of the file is
/// written (inserted, or replacing what is there) when it is new to the database or differs from
/// what the file said when it was last written; otherwise the directory keeps what the admin API
/// made of it, including its removal. So a proxy restarted with an unchanged file keeps every
/// admin change, and an operator who edits an entry in the file gets that edit.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    pub endpoints: Vec<Endpoint>,
    pub applications: Vec<Application>,
}

/// What a seed wrote: the entries it inserted or replaced, by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seeded {
    pub endpoints: Vec<String>,
    pub applications: Vec<String>,
}

/// The seed key of an endpoint: its target, `system|value`.
pub fn endpoint_key(system: &str, value: &str) -> String {
    format!("{system}|{value}")
}

/// The `proxy_seed` kind of a file endpoint. Not `endpoint`, the kind of the pre-FHIR
/// catalogue: a database from before the catalogue records gets every file entry written once.
pub(crate) const SEED_KIND_CATALOGUE: &str = "catalogue";

/// The text a seed entry is remembered by: its JSON, so any edit in the file shows.
pub fn entry_text<T: serde::Serialize>(entry: &T) -> Result<String, StoreError> {
    serde_json::to_string(entry)
        .map_err(|e| StoreError::Internal(format!("cannot serialise a seed entry: {e}")))
}

/// An application as stored (its JSON, keys and all).
pub(crate) fn application_text(app: &Application) -> Result<String, StoreError> {
    serde_json::to_string(app)
        .map_err(|e| StoreError::Internal(format!("cannot serialise application: {e}")))
}

/// An application read back; a row that does not read is corruption (its id named, never its
/// keys).
pub(crate) fn application_from(client_id: &str, body: &str) -> Result<Application, StoreError> {
    serde_json::from_str(body).map_err(|_| {
        StoreError::Internal(format!("application {client_id}: unreadable registration"))
    })
}

/// The proxy's storage. Dyn-compatible, so either backend sits behind one `Arc`.
#[async_trait]
pub trait ProxyStore: Send + Sync {
    /// The directory's change counter.
    async fn revision(&self) -> Result<i64, StoreError>;

    /// The whole directory (catalogue records by kind and id, applications by client id).
    async fn snapshot(&self) -> Result<Snapshot, StoreError>;

    /// Applies `changes` in one transaction if the directory is still at `revision` (moving it
    /// on); false, and nothing changed, when another write came first. Every catalogue write is
    /// decided on a snapshot and written through here, so two proxies deciding at once cannot
    /// both succeed on what became a stale catalogue.
    async fn write_catalogue(
        &self,
        revision: i64,
        changes: Vec<CatalogueChange>,
    ) -> Result<bool, StoreError>;

    /// Adds or replaces an application (checked by the caller).
    async fn put_application(&self, application: Application) -> Result<(), StoreError>;

    /// Removes an application; false when there was none.
    async fn remove_application(&self, client_id: &str) -> Result<bool, StoreError>;

    /// Writes the file's entries that are new or changed since they were last written (see
    /// [`Seed`]), in one transaction.
    async fn seed(&self, seed: SeedRows) -> Result<Seeded, StoreError>;

    /// Records `(client_id, jti)` until `remember_until` (seconds since the epoch) unless it is
    /// recorded and not yet past its time at `now`. True when it was recorded now: the
    /// assertion's first use anywhere. Decided by one statement, so of two proxies receiving the
    /// same assertion at once exactly one gets true.
    async fn use_jti(
        &self,
        client_id: &str,
        jti: &str,
        remember_until: i64,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Forgets the `jti`s whose time passed before `now`; returns how many.
    async fn purge_jtis(&self, now: i64) -> Result<u64, StoreError>;

    /// Succeeds when the database answers and its schema is current.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Connection use, for operators.
    fn pool_status(&self) -> Vec<bars_store::PoolStatus> {
        Vec::new()
    }
}

/// Opens the proxy's store a database URL names: `sqlite://path`, `sqlite:path` or a bare path
/// (SQLite, one proxy), or `postgres://...` / `postgresql://...` (PostgreSQL, several proxies).
/// Either way the schema is brought up to date.
pub async fn open_store(url: &str) -> Result<Arc<dyn ProxyStore>, StoreError> {
    if bars_store::postgres::is_postgres_url(url) {
        return Ok(Arc::new(PgProxyStore::connect(url).await?));
    }
    Ok(Arc::new(SqliteProxyStore::open(bars_store::sqlite_path(
        url,
    )?)?))
}

#[cfg(test)]
mod tests;
