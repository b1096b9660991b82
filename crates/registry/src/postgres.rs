//! The Registry's store on PostgreSQL, for several registry instances sharing one database.
//! The same guards as on SQLite, decided inside each transaction at READ COMMITTED: the
//! pointer row is locked before its version is compared, an insert of a taken id does nothing
//! and says so, and a superseded pointer must still be there when it is deleted.

use async_trait::async_trait;
use bars_fhir::Instant;
use bars_store::StoreError;
use bars_store::postgres::errors::db;
use bars_store::postgres::{PgDatabase, sql};
use bars_store::sqlite::migrate::Migrations;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::sqlite::{RawRow, stamped};
use crate::store::{
    COLUMNS, Cursor, NewPointer, PointerKeys, PointerPage, PointerQuery, RegistryStore,
    StoredPointer, SupersedeRefusal, WriteError,
};

/// The Registry's PostgreSQL schema steps, append-only. `seq` gives searches a stable order
/// and continuation tokens a position that deletions cannot shift.
pub static MIGRATIONS: Migrations = Migrations {
    component: "registry",
    steps: &["CREATE TABLE registry_pointer (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            custodian TEXT NOT NULL,
            subject TEXT NOT NULL,
            type TEXT NOT NULL,
            category TEXT NOT NULL,
            appointment_id TEXT,
            version BIGINT NOT NULL CHECK (version >= 1),
            last_updated TEXT NOT NULL,
            body TEXT NOT NULL
        );
        CREATE INDEX registry_pointer_by_subject ON registry_pointer (subject, seq);
        CREATE INDEX registry_pointer_by_custodian ON registry_pointer (custodian, seq);
        CREATE INDEX registry_pointer_by_appointment ON registry_pointer (appointment_id)
            WHERE appointment_id IS NOT NULL;"],
};

pub struct PgRegistryStore {
    db: PgDatabase,
}

impl PgRegistryStore {
    /// Connects and brings the Registry's schema up to date.
    pub async fn connect(url: &str) -> Result<PgRegistryStore, StoreError> {
        Ok(PgRegistryStore {
            db: PgDatabase::connect(url, &[&MIGRATIONS]).await?,
        })
    }
}

#[async_trait]
impl RegistryStore for PgRegistryStore {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "create"))]
    async fn create(
        &self,
        pointer: NewPointer,
        supersede: Option<String>,
    ) -> Result<StoredPointer, WriteError> {
        self.db
            .write(
                (pointer, supersede, Instant::now()),
                |tx, (pointer, supersede, now)| {
                    Box::pin(create(tx, pointer, supersede.as_deref(), *now))
                },
            )
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "get"))]
    async fn get(&self, id: &str) -> Result<Option<StoredPointer>, StoreError> {
        self.db
            .autocommit(id.to_string(), |c, id| Box::pin(get(c, id)))
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "update"))]
    async fn update(
        &self,
        pointer: NewPointer,
        expected_version: u64,
    ) -> Result<StoredPointer, WriteError> {
        self.db
            .write(
                (pointer, expected_version, Instant::now()),
                |tx, (pointer, expected_version, now)| {
                    Box::pin(update(tx, pointer, *expected_version, *now))
                },
            )
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "delete"))]
    async fn delete(&self, id: &str, expected_version: u64) -> Result<(), WriteError> {
        self.db
            .write(
                (id.to_string(), expected_version),
                |tx, (id, expected_version)| Box::pin(delete(tx, id, *expected_version)),
            )
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "search"))]
    async fn search(&self, query: PointerQuery) -> Result<PointerPage, StoreError> {
        self.db
            .snapshot(query, |tx, q| Box::pin(search(tx, q)))
            .await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "ping"))]
    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping(&[&MIGRATIONS]).await
    }

    fn pool_status(&self) -> Vec<bars_store::PoolStatus> {
        self.db.pool_status()
    }
}

fn store_error(e: tokio_postgres::Error) -> WriteError {
    WriteError::Store(db(e))
}

fn raw_row(r: &Row, at: usize) -> RawRow {
    RawRow {
        id: r.get(at),
        custodian: r.get(at + 1),
        subject: r.get(at + 2),
        type_token: r.get(at + 3),
        category_token: r.get(at + 4),
        appointment_id: r.get(at + 5),
        version: r.get(at + 6),
        last_updated: r.get(at + 7),
        body: r.get(at + 8),
    }
}

async fn create(
    tx: &Transaction<'_>,
    pointer: &NewPointer,
    supersede: Option<&str>,
    now: Instant,
) -> Result<StoredPointer, WriteError> {
    if let Some(old) = supersede {
        check_supersede(tx, old, &pointer.keys).await?;
        let deleted = sql::exec(tx, "DELETE FROM registry_pointer WHERE id = $1", &[&old])
            .await
            .map_err(store_error)?;
        if deleted == 0 {
            return Err(SupersedeRefusal::Missing.into());
        }
    }
    let stored = stamped(pointer.clone(), 1, now);
    let keys = &stored.keys;
    let inserted = sql::exec(
        tx,
        "INSERT INTO registry_pointer (id, custodian, subject, type, category, appointment_id, version, last_updated, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        &[
            &stored.id,
            &keys.custodian,
            &keys.subject.as_str(),
            &keys.type_token,
            &keys.category_token,
            &keys.appointment_id,
            &(stored.version as i64),
            &stored.last_updated.to_string(),
            &stored.body.to_string(),
        ],
    )
    .await
    .map_err(store_error)?;
    if inserted == 0 {
        return Err(WriteError::DuplicateId);
    }
    Ok(stored)
}

/// The pointer being replaced must be the same kind of pointer, for the same patient, kept by
/// the same custodian. Its row is locked, so it cannot change before it is deleted.
async fn check_supersede(
    tx: &Transaction<'_>,
    old: &str,
    keys: &PointerKeys,
) -> Result<(), WriteError> {
    let Some(row) = sql::opt(
        tx,
        "SELECT custodian, subject, type FROM registry_pointer WHERE id = $1 FOR UPDATE",
        &[&old],
    )
    .await
    .map_err(store_error)?
    else {
        return Err(SupersedeRefusal::Missing.into());
    };
    let (custodian, subject, type_token): (String, String, String) =
        (row.get(0), row.get(1), row.get(2));
    if !custodian.eq_ignore_ascii_case(&keys.custodian) {
        return Err(SupersedeRefusal::OtherCustodian.into());
    }
    if subject != keys.subject.as_str() {
        return Err(SupersedeRefusal::OtherSubject.into());
    }
    if type_token != keys.type_token {
        return Err(SupersedeRefusal::OtherType.into());
    }
    Ok(())
}

async fn update(
    tx: &Transaction<'_>,
    pointer: &NewPointer,
    expected: u64,
    now: Instant,
) -> Result<StoredPointer, WriteError> {
    let Some(row) = sql::opt(
        tx,
        "SELECT version, last_updated FROM registry_pointer WHERE id = $1 FOR UPDATE",
        &[&pointer.id],
    )
    .await
    .map_err(store_error)?
    else {
        return Err(WriteError::NotFound);
    };
    let current = row.get::<_, i64>(0).max(0) as u64;
    if current != expected {
        return Err(WriteError::VersionMismatch { current });
    }
    // A pointer's lastUpdated never goes backwards, even if the clock does.
    let previous: String = row.get(1);
    let now = match Instant::parse(&previous) {
        Ok(previous) => now.after(previous),
        Err(_) => now,
    };
    let stored = stamped(pointer.clone(), expected + 1, now);
    let keys = &stored.keys;
    let changed = sql::exec(
        tx,
        "UPDATE registry_pointer
         SET custodian = $1, subject = $2, type = $3, category = $4, appointment_id = $5,
             version = $6, last_updated = $7, body = $8
         WHERE id = $9 AND version = $10",
        &[
            &keys.custodian,
            &keys.subject.as_str(),
            &keys.type_token,
            &keys.category_token,
            &keys.appointment_id,
            &(stored.version as i64),
            &stored.last_updated.to_string(),
            &stored.body.to_string(),
            &stored.id,
            &(expected as i64),
        ],
    )
    .await
    .map_err(store_error)?;
    if changed == 1 {
        Ok(stored)
    } else {
        Err(WriteError::VersionMismatch { current })
    }
}

async fn delete(tx: &Transaction<'_>, id: &str, expected: u64) -> Result<(), WriteError> {
    let changed = sql::exec(
        tx,
        "DELETE FROM registry_pointer WHERE id = $1 AND version = $2",
        &[&id, &(expected as i64)],
    )
    .await
    .map_err(store_error)?;
    if changed == 1 {
        return Ok(());
    }
    match sql::opt(
        tx,
        "SELECT version FROM registry_pointer WHERE id = $1",
        &[&id],
    )
    .await
    .map_err(store_error)?
    {
        None => Err(WriteError::NotFound),
        Some(row) => Err(WriteError::VersionMismatch {
            current: row.get::<_, i64>(0).max(0) as u64,
        }),
    }
}

async fn get<C: GenericClient>(c: &C, id: &str) -> Result<Option<StoredPointer>, StoreError> {
    let row = sql::opt(
        c,
        &format!("SELECT {COLUMNS} FROM registry_pointer WHERE id = $1"),
        &[&id],
    )
    .await
    .map_err(db)?;
    row.map(|r| raw_row(&r, 0).into_pointer()).transpose()
}

/// Counts every match, then reads one page after the cursor, in one snapshot.
async fn search<C: GenericClient>(c: &C, query: &PointerQuery) -> Result<PointerPage, StoreError> {
    let subject = query.subject.as_str().to_string();
    let mut filter = String::from("subject = $1");
    let mut values: Vec<&(dyn ToSql + Sync)> = vec![&subject];
    for (column, value) in [
        ("type", &query.type_token),
        ("custodian", &query.custodian),
        ("category", &query.category_token),
    ] {
        if let Some(value) = value {
            values.push(value);
            filter.push_str(&format!(" AND {column} = ${}", values.len()));
        }
    }
    let total: i64 = sql::one(
        c,
        &format!("SELECT COUNT(*) FROM registry_pointer WHERE {filter}"),
        &values,
    )
    .await
    .map_err(db)?
    .get(0);

    let limit = query.limit.max(1);
    let after = query.after.map_or(0, |c| c.after);
    let fetch = limit as i64 + 1;
    let mut page_values = values.clone();
    page_values.push(&after);
    page_values.push(&fetch);
    let rows = sql::rows(
        c,
        &format!(
            "SELECT seq, {COLUMNS} FROM registry_pointer WHERE {filter} AND seq > ${} ORDER BY seq LIMIT ${}",
            page_values.len() - 1,
            page_values.len()
        ),
        &page_values,
    )
    .await
    .map_err(db)?;

    let more = rows.len() > limit;
    let mut pointers = Vec::with_capacity(limit.min(rows.len()));
    let mut last_seq = None;
    for row in rows.iter().take(limit) {
        last_seq = Some(row.get::<_, i64>(0));
        pointers.push(raw_row(row, 1).into_pointer()?);
    }
    Ok(PointerPage {
        pointers,
        total: total.max(0) as u64,
        next: if more {
            last_seq.map(|after| Cursor { after })
        } else {
            None
        },
    })
}
