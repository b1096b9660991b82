//! The proxy's store on SQLite, on the shared [`Database`] handle (group-commit writer, WAL
//! readers): one proxy process. Several proxies share a PostgreSQL database instead.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bars_store::StoreError;
use bars_store::sqlite::{Database, SqliteOptions, classify};
use rusqlite::{Connection, OptionalExtension, params};

use super::{
    MIGRATIONS, ProxyStore, Seed, Seeded, Snapshot, application_from, application_text,
    endpoint_key, entry_text,
};
use crate::auth::applications::Application;
use crate::catalogue::Endpoint;

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

const PUT_ENDPOINT: &str = "INSERT INTO proxy_endpoint (system, value, name, url, ods_code)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (system, value) DO UPDATE SET name = excluded.name, url = excluded.url,
        ods_code = excluded.ods_code";

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

fn put_endpoint(c: &Connection, e: &Endpoint) -> Result<(), StoreError> {
    exec(
        c,
        PUT_ENDPOINT,
        params![e.system, e.value, e.name, e.url, e.ods_code],
    )?;
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
    let endpoints = c
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
        endpoints,
        applications,
    })
}

fn revision(c: &Connection) -> Result<i64, StoreError> {
    c.prepare_cached("SELECT revision FROM proxy_revision WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map_err(run)?
        .ok_or_else(|| StoreError::Internal("proxy_revision has no row".into()))
}

fn seed(c: &Connection, seed: &Seed) -> Result<Seeded, StoreError> {
    let mut seeded = Seeded::default();
    for e in &seed.endpoints {
        let key = endpoint_key(&e.system, &e.value);
        if exec(c, SEED, params!["endpoint", key, entry_text(e)?])? == 1 {
            put_endpoint(c, e)?;
            seeded.endpoints.push(key);
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

    async fn add_endpoint(&self, endpoint: Endpoint) -> Result<bool, StoreError> {
        self.db
            .write(move |c| {
                let added = exec(
                    c,
                    "INSERT INTO proxy_endpoint (system, value, name, url, ods_code)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (system, value) DO NOTHING",
                    params![
                        endpoint.system,
                        endpoint.value,
                        endpoint.name,
                        endpoint.url,
                        endpoint.ods_code
                    ],
                )? == 1;
                if added {
                    exec(c, BUMP, [])?;
                }
                Ok(added)
            })
            .await
    }

    async fn put_endpoint(&self, endpoint: Endpoint) -> Result<(), StoreError> {
        self.db
            .write(move |c| {
                put_endpoint(c, &endpoint)?;
                exec(c, BUMP, [])?;
                Ok(())
            })
            .await
    }

    async fn remove_endpoint(&self, system: &str, value: &str) -> Result<bool, StoreError> {
        let (system, value) = (system.to_string(), value.to_string());
        self.db
            .write(move |c| {
                let removed = exec(
                    c,
                    "DELETE FROM proxy_endpoint WHERE system = ?1 AND value = ?2",
                    params![system, value],
                )? > 0;
                if removed {
                    exec(c, BUMP, [])?;
                }
                Ok(removed)
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

    async fn seed(&self, entries: Seed) -> Result<Seeded, StoreError> {
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
