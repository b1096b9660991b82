//! The proxy's store on PostgreSQL, for several proxies sharing one directory and one replay
//! cache. The same statements as on SQLite; the races they decide (two proxies using one `jti`,
//! two starting with the same file) are single upserts, which PostgreSQL serialises on the
//! row's key at READ COMMITTED.

use async_trait::async_trait;
use bars_store::StoreError;
use bars_store::postgres::errors::db;
use bars_store::postgres::{PgDatabase, sql};
use deadpool_postgres::{GenericClient, Transaction};

use super::{
    CatalogueChange, MIGRATIONS, ProxyStore, SEED_KIND_CATALOGUE, SeedRows, Seeded, Snapshot,
    StoredRecord, application_from, application_text, entry_text,
};
use crate::auth::applications::Application;
use crate::endpoint::Endpoint;

const BUMP: &str = "UPDATE proxy_revision SET revision = revision + 1 WHERE id = 1";

const INSERT_JTI: &str = "INSERT INTO proxy_replay (client_id, jti, remember_until)
    VALUES ($1, $2, $3)
    ON CONFLICT (client_id, jti) DO UPDATE SET remember_until = excluded.remember_until
    WHERE proxy_replay.remember_until < $4";

const SEED: &str = "INSERT INTO proxy_seed (kind, key, entry) VALUES ($1, $2, $3)
    ON CONFLICT (kind, key) DO UPDATE SET entry = excluded.entry
    WHERE proxy_seed.entry <> excluded.entry";

/// Moves the counter on only from the revision a catalogue write was decided at. Run first in
/// the transaction: a concurrent write holds the row until it commits, after which this one
/// re-reads it at READ COMMITTED, finds the revision moved, and changes nothing.
const GUARDED_BUMP: &str =
    "UPDATE proxy_revision SET revision = revision + 1 WHERE id = 1 AND revision = $1";

const PUT_RECORD: &str = "INSERT INTO proxy_catalogue (kind, id, version, last_updated, body)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version,
        last_updated = excluded.last_updated, body = excluded.body";

const SEED_RECORD: &str = "INSERT INTO proxy_catalogue (kind, id, version, last_updated, body)
    VALUES ($1, $2, 1, $3, $4)
    ON CONFLICT (kind, id) DO UPDATE SET version = proxy_catalogue.version + 1,
        last_updated = excluded.last_updated, body = excluded.body";

const PUT_APPLICATION: &str = "INSERT INTO proxy_application (client_id, body) VALUES ($1, $2)
    ON CONFLICT (client_id) DO UPDATE SET body = excluded.body";

pub struct PgProxyStore {
    db: PgDatabase,
}

impl PgProxyStore {
    /// Connects and brings the proxy's schema up to date.
    pub async fn connect(url: &str) -> Result<PgProxyStore, StoreError> {
        Ok(PgProxyStore {
            db: PgDatabase::connect(url, &[&MIGRATIONS]).await?,
        })
    }
}

async fn exec<C: GenericClient>(
    c: &C,
    statement: &str,
    params: sql::Params<'_>,
) -> Result<u64, StoreError> {
    sql::exec(c, statement, params).await.map_err(db)
}

async fn apply_change(tx: &Transaction<'_>, change: &CatalogueChange) -> Result<(), StoreError> {
    match change {
        CatalogueChange::Put(r) => {
            exec(
                tx,
                PUT_RECORD,
                &[&r.kind, &r.id, &r.version, &r.last_updated, &r.body],
            )
            .await?
        }
        CatalogueChange::Delete { kind, id } => {
            exec(
                tx,
                "DELETE FROM proxy_catalogue WHERE kind = $1 AND id = $2",
                &[kind, id],
            )
            .await?
        }
        CatalogueChange::RetireLegacy { system, value } => {
            exec(
                tx,
                "DELETE FROM proxy_endpoint WHERE system = $1 AND value = $2",
                &[system, value],
            )
            .await?
        }
    };
    Ok(())
}

async fn put_application(tx: &Transaction<'_>, app: &Application) -> Result<(), StoreError> {
    exec(
        tx,
        PUT_APPLICATION,
        &[&app.client_id, &application_text(app)?],
    )
    .await?;
    Ok(())
}

async fn revision<C: GenericClient>(c: &C) -> Result<i64, StoreError> {
    sql::opt(c, "SELECT revision FROM proxy_revision WHERE id = 1", &[])
        .await
        .map_err(db)?
        .map(|r| r.get::<_, i64>(0))
        .ok_or_else(|| StoreError::Internal("proxy_revision has no row".into()))
}

async fn snapshot(tx: &Transaction<'_>) -> Result<Snapshot, StoreError> {
    let revision = revision(tx).await?;
    let records = sql::rows(
        tx,
        "SELECT kind, id, version, last_updated, body FROM proxy_catalogue ORDER BY kind, id",
        &[],
    )
    .await
    .map_err(db)?
    .iter()
    .map(|r| StoredRecord {
        kind: r.get(0),
        id: r.get(1),
        version: r.get(2),
        last_updated: r.get(3),
        body: r.get(4),
    })
    .collect();
    let legacy = sql::rows(
        tx,
        "SELECT system, value, name, url, ods_code FROM proxy_endpoint ORDER BY system, value",
        &[],
    )
    .await
    .map_err(db)?
    .iter()
    .map(|r| Endpoint {
        system: r.get(0),
        value: r.get(1),
        name: r.get(2),
        url: r.get(3),
        ods_code: r.get(4),
    })
    .collect();
    let applications = sql::rows(
        tx,
        "SELECT client_id, body FROM proxy_application ORDER BY client_id",
        &[],
    )
    .await
    .map_err(db)?
    .iter()
    .map(|r| application_from(r.get(0), r.get(1)))
    .collect::<Result<_, _>>()?;
    Ok(Snapshot {
        revision,
        records,
        legacy,
        applications,
    })
}

async fn seed(tx: &Transaction<'_>, seed: &SeedRows) -> Result<Seeded, StoreError> {
    let mut seeded = Seeded::default();
    for e in &seed.endpoints {
        if exec(tx, SEED, &[&SEED_KIND_CATALOGUE, &e.key, &e.text]).await? == 1 {
            for r in &e.records {
                exec(tx, SEED_RECORD, &[&r.kind, &r.id, &r.last_updated, &r.body]).await?;
            }
            seeded.endpoints.push(e.key.clone());
        }
    }
    for app in &seed.applications {
        if exec(
            tx,
            SEED,
            &[&"application", &app.client_id, &entry_text(app)?],
        )
        .await?
            == 1
        {
            put_application(tx, app).await?;
            seeded.applications.push(app.client_id.clone());
        }
    }
    if !(seeded.endpoints.is_empty() && seeded.applications.is_empty()) {
        exec(tx, BUMP, &[]).await?;
    }
    Ok(seeded)
}

/// Runs `statement` (which changes the directory) and, when it changed a row, bumps the
/// revision in the same transaction.
async fn change(
    tx: &Transaction<'_>,
    statement: &str,
    params: sql::Params<'_>,
) -> Result<bool, StoreError> {
    let changed = exec(tx, statement, params).await? > 0;
    if changed {
        exec(tx, BUMP, &[]).await?;
    }
    Ok(changed)
}

#[async_trait]
impl ProxyStore for PgProxyStore {
    async fn revision(&self) -> Result<i64, StoreError> {
        self.db.autocommit((), |c, _| Box::pin(revision(c))).await
    }

    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.db.snapshot((), |tx, _| Box::pin(snapshot(tx))).await
    }

    async fn write_catalogue(
        &self,
        revision: i64,
        changes: Vec<CatalogueChange>,
    ) -> Result<bool, StoreError> {
        self.db
            .write((revision, changes), |tx, (revision, changes)| {
                Box::pin(async move {
                    if exec(tx, GUARDED_BUMP, &[revision]).await? == 0 {
                        return Ok(false);
                    }
                    for ch in changes.iter() {
                        apply_change(tx, ch).await?;
                    }
                    Ok(true)
                })
            })
            .await
    }

    async fn put_application(&self, application: Application) -> Result<(), StoreError> {
        self.db
            .write(application, |tx, app| {
                Box::pin(async move {
                    put_application(tx, app).await?;
                    exec(tx, BUMP, &[]).await?;
                    Ok(())
                })
            })
            .await
    }

    async fn remove_application(&self, client_id: &str) -> Result<bool, StoreError> {
        self.db
            .write(client_id.to_string(), |tx, id| {
                Box::pin(async move {
                    change(
                        tx,
                        "DELETE FROM proxy_application WHERE client_id = $1",
                        &[id],
                    )
                    .await
                })
            })
            .await
    }

    async fn seed(&self, entries: SeedRows) -> Result<Seeded, StoreError> {
        self.db.write(entries, |tx, s| Box::pin(seed(tx, s))).await
    }

    async fn use_jti(
        &self,
        client_id: &str,
        jti: &str,
        remember_until: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let data = (client_id.to_string(), jti.to_string(), remember_until, now);
        self.db
            .write(data, |tx, (c, j, until, now)| {
                Box::pin(async move { Ok(exec(tx, INSERT_JTI, &[c, j, until, now]).await? == 1) })
            })
            .await
    }

    async fn purge_jtis(&self, now: i64) -> Result<u64, StoreError> {
        self.db
            .write(now, |tx, now| {
                Box::pin(async move {
                    exec(
                        tx,
                        "DELETE FROM proxy_replay WHERE remember_until < $1",
                        &[now],
                    )
                    .await
                })
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
