//! The proxy's store on SQLite, on the shared [`Database`] handle (group-commit writer, WAL
//! readers): one proxy process. Several proxies share a PostgreSQL database instead.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bars_store::StoreError;
use bars_store::sqlite::{Database, SqliteOptions, classify};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    CatalogueChange, MIGRATIONS, ProxyStore, SEED_KIND_CATALOGUE, SeedRows, Seeded, Snapshot,
    StoredRecord, application_from, application_text, entry_text,
};
use crate::auth::applications::Application;
use crate::endpoint::Endpoint;

/// Bumps the change counter; every directory write runs it in its own transaction.
const BUMP: &str = "UPDATE proxy_revision SET revision = revision + 1 WHERE id = 1";

const INSERT_JTI: &str = "INSERT INTO proxy_replay (client_id, jti, remember_until)
    VALUES (?1, ?2, ?3)
    ON CONFLICT (client_id, jti) DO UPDATE SET remember_until = excluded.remember_until
    WHERE proxy_replay.remember_until < ?4";

/// Records a seed entry's text; true when it is new or differs from the one last recorded.
const SEED: &str = "INSERT INTO proxy_seed (kind, key, entry) VALUES (?1, ?2, ?3)
    ON CONFLICT (kind, key) DO UPDATE SET entry = excluded.entry
    WHERE proxy_seed.entry <> excluded.entry";

/// Moves the counter on only from the revision a catalogue write was decided at.
const GUARDED_BUMP: &str =
    "UPDATE proxy_revision SET revision = revision + 1 WHERE id = 1 AND revision = ?1";

const PUT_RECORD: &str = "INSERT INTO proxy_catalogue (kind, id, version, last_updated, body)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version,
        last_updated = excluded.last_updated, body = excluded.body";

/// A seeded record replaces what is there as its next version.
const SEED_RECORD: &str = "INSERT INTO proxy_catalogue (kind, id, version, last_updated, body)
    VALUES (?1, ?2, 1, ?3, ?4)
    ON CONFLICT (kind, id) DO UPDATE SET version = proxy_catalogue.version + 1,
        last_updated = excluded.last_updated, body = excluded.body";

const PUT_APPLICATION: &str = "INSERT INTO proxy_application (client_id, body) VALUES (?1, ?2)
    ON CONFLICT (client_id) DO UPDATE SET body = excluded.body";

pub struct SqliteProxyStore {
    db: Arc<Database>,
}

impl SqliteProxyStore {
    /// Opens (creating if needed) a database file holding the proxy's tables.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteProxyStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteProxyStore, StoreError> {
        let db = Database::open(path, options, &[&MIGRATIONS])?;
        Ok(SqliteProxyStore { db: Arc::new(db) })
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }
}

fn run(e: rusqlite::Error) -> StoreError {
    classify(e)
}

fn exec(c: &Connection, sql: &str, values: impl rusqlite::Params) -> Result<usize, StoreError> {
    c.prepare_cached(sql)
        .and_then(|mut s| s.execute(values))
        .map_err(run)
}

fn change(c: &Connection, change: &CatalogueChange) -> Result<(), StoreError> {
    match change {
        CatalogueChange::Put(r) => exec(
            c,
            PUT_RECORD,
            params![r.kind, r.id, r.version, r.last_updated, r.body],
        )?,
        CatalogueChange::Delete { kind, id } => exec(
            c,
            "DELETE FROM proxy_catalogue WHERE kind = ?1 AND id = ?2",
            params![kind, id],
        )?,
        CatalogueChange::RetireLegacy { system, value } => exec(
            c,
            "DELETE FROM proxy_endpoint WHERE system = ?1 AND value = ?2",
            params![system, value],
        )?,
    };
    Ok(())
}

fn put_application(c: &Connection, app: &Application) -> Result<(), StoreError> {
    exec(
        c,
        PUT_APPLICATION,
        params![app.client_id, application_text(app)?],
    )?;
    Ok(())
}

fn snapshot(c: &Connection) -> Result<Snapshot, StoreError> {
    let revision = revision(c)?;
    let records = c
        .prepare_cached(
            "SELECT kind, id, version, last_updated, body FROM proxy_catalogue ORDER BY kind, id",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok(StoredRecord {
                    kind: r.get(0)?,
                    id: r.get(1)?,
                    version: r.get(2)?,
                    last_updated: r.get(3)?,
                    body: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(run)?;
    let legacy = c
        .prepare_cached(
            "SELECT system, value, name, url, ods_code FROM proxy_endpoint ORDER BY system, value",
        )
        .and_then(|mut s| {
            s.query_map([], |r| {
                Ok(Endpoint {
                    system: r.get(0)?,
                    value: r.get(1)?,
                    name: r.get(2)?,
                    url: r.get(3)?,
                    ods_code: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()
        })
        .map_err(run)?;
    let rows: Vec<(String, String)> = c
        .prepare_cached("SELECT client_id, body FROM proxy_application ORDER BY client_id")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(run)?;
    let applications = rows
        .iter()
        .map(|(id, body)| application_from(id, body))
        .collect::<Result<_, _>>()?;
    Ok(Snapshot {
        revision,
        records,
        legacy,
        applications,
    })
}

fn revision(c: &Connection) -> Result<i64, StoreError> {
    c.prepare_cached("SELECT revision FROM proxy_revision WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map_err(run)?
        .ok_or_else(|| StoreError::Internal("proxy_revision has no row".into()))
}

fn seed(c: &Connection, seed: &SeedRows) -> Result<Seeded, StoreError> {
    let mut seeded = Seeded::default();
    for e in &seed.endpoints {
        if exec(c, SEED, params![SEED_KIND_CATALOGUE, e.key, e.text])? == 1 {
            for r in &e.records {
                exec(
                    c,
                    SEED_RECORD,
                    params![r.kind, r.id, r.last_updated, r.body],
                )?;
            }
            seeded.endpoints.push(e.key.clone());
        }
    }
    for app in &seed.applications {
        if exec(
            c,
            SEED,
            params!["application", app.client_id, entry_text(app)?],
        )? == 1
        {
            put_application(c, app)?;
            seeded.applications.push(app.client_id.clone());
        }
    }
    if !(seeded.endpoints.is_empty() && seeded.applications.is_empty()) {
        exec(c, BUMP, [])?;
    }
    Ok(seeded)
}

#[async_trait]
impl ProxyStore for SqliteProxyStore {
    async fn revision(&self) -> Result<i64, StoreError> {
        self.db.read(revision).await
    }

    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.db.read(snapshot).await
    }

    async fn write_catalogue(
        &self,
        revision: i64,
        changes: Vec<CatalogueChange>,
    ) -> Result<bool, StoreError> {
        self.db
            .write(move |c| {
                if exec(c, GUARDED_BUMP, [revision])? == 0 {
                    return Ok(false);
                }
                for ch in &changes {
                    change(c, ch)?;
                }
                Ok(true)
            })
            .await
    }

    async fn put_application(&self, application: Application) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                put_application(c, &application)?;
                exec(c, BUMP, [])?;
                Ok(())
            })
            .await
    }

    async fn remove_application(&self, client_id: &str) -> Result<bool, StoreError> {
        let client_id = client_id.to_string();
        self.db
            .write(move |c| {
                let removed = exec(
                    c,
                    "DELETE FROM proxy_application WHERE client_id = ?1",
                    [&client_id],
                )? > 0;
                if removed {
                    exec(c, BUMP, [])?;
                }
                Ok(removed)
            })
            .await
    }

    async fn seed(&self, entries: SeedRows) -> Result<Seeded, StoreError> {
        self.db.write(move |c| seed(c, &entries)).await
    }

    async fn use_jti(
        &self,
        client_id: &str,
        jti: &str,
        remember_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let (client_id, jti) = (client_id.to_string(), jti.to_string());
        self.db
            .write(move |c| {
                Ok(exec(c, INSERT_JTI, params![client_id, jti, remember_until, now])? == 1)
            })
            .await
    }

    async fn purge_jtis(&self, now: i64) -> Result<u64, StoreError> {
        self.db
            .write(move |c| {
                let purged = exec(
                    c,
                    "DELETE FROM proxy_replay WHERE remember_until < ?1",
                    [now],
                )?;
                Ok(purged as u64)
            })
            .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping(&[&MIGRATIONS]).await
    }

    fn pool_status(&self) -> Vec<bars_store::PoolStatus> {
        self.db.pool_status()
    }
}
