//! The Registry's store on PostgreSQL, for several registry instances sharing one database.
//! The same guards as on SQLite, decided inside each transaction at READ COMMITTED: the
//! pointer row is locked before its version is compared, an insert of a taken id does nothing
//! and says so, and a superseded pointer must still be there when it is deleted.

use bars_fhir::Instant;
use bars_store::StoreError;
use bars_store::postgres::errors::db;
use bars_store::postgres::{PgDatabase, sql};
use bars_store::sqlite::migrate::Migrations;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::types::ToSql;

use crate::store::{
    NewPointer, PointerPage, PointerQuery, RegistryBackend, StoredPointer, SupersedeRefusal,
    WriteError,
};
use crate::table::{
    COLUMNS, RawRow, RowValues, check_supersede, filters, next_version, page, refusal, schema,
    stamped,
};

/// The Registry's PostgreSQL schema steps, append-only (see [`schema!`]).
pub static MIGRATIONS: Migrations = Migrations {
    component: "registry",
    steps: &[schema!(
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "BIGINT"
    )],
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

impl RegistryBackend for PgRegistryStore {
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

    async fn get(&self, id: &str) -> Result<Option<StoredPointer>, StoreError> {
        self.db
            .autocommit(id.to_string(), |c, id| Box::pin(get(c, id)))
            .await
    }

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

    async fn delete(&self, id: &str, expected_version: u64) -> Result<(), WriteError> {
        self.db
            .write(
                (id.to_string(), expected_version),
                |tx, (id, expected_version)| Box::pin(delete(tx, id, *expected_version)),
            )
            .await
    }

    async fn search(&self, query: PointerQuery) -> Result<PointerPage, StoreError> {
        self.db
            .snapshot(query, |tx, q| Box::pin(search(tx, q)))
            .await
    }

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

/// Writes `p` as a new row (`expected` is `None`; a taken id writes nothing) or over the
/// version it replaces; returns how many rows it wrote.
async fn write(
    tx: &Transaction<'_>,
    p: &StoredPointer,
    expected: Option<u64>,
) -> Result<u64, WriteError> {
    let v = RowValues::of(p);
    let expected = expected.map(|e| e as i64);
    let values: sql::Params = &[
        &v.id,
        &v.custodian,
        &v.subject,
        &v.type_token,
        &v.category_token,
        &v.appointment_id,
        &v.version,
        &v.last_updated,
        &v.body,
        &expected,
    ];
    let (statement, values) = match expected {
        None => (
            "INSERT INTO registry_pointer (id, custodian, subject, type, category, appointment_id, version, last_updated, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
            &values[..9],
        ),
        Some(_) => (
            "UPDATE registry_pointer
             SET custodian = $2, subject = $3, type = $4, category = $5, appointment_id = $6,
                 version = $7, last_updated = $8, body = $9
             WHERE id = $1 AND version = $10",
            values,
        ),
    };
    sql::exec(tx, statement, values).await.map_err(store_error)
}

/// The version of a pointer, if it exists.
async fn version_of(tx: &Transaction<'_>, id: &str) -> Result<Option<i64>, WriteError> {
    let row = sql::opt(
        tx,
        "SELECT version FROM registry_pointer WHERE id = $1",
        &[&id],
    )
    .await
    .map_err(store_error)?;
    Ok(row.map(|r| r.get(0)))
}

async fn create(
    tx: &Transaction<'_>,
    pointer: &NewPointer,
    supersede: Option<&str>,
    now: Instant,
) -> Result<StoredPointer, WriteError> {
    if let Some(old) = supersede {
        // The replaced pointer's row is locked, so it cannot change before it is deleted.
        let found = sql::opt(
            tx,
            "SELECT custodian, subject, type FROM registry_pointer WHERE id = $1 FOR UPDATE",
            &[&old],
        )
        .await
        .map_err(store_error)?;
        check_supersede(found.map(|r| (r.get(0), r.get(1), r.get(2))), &pointer.keys)?;
        let deleted = sql::exec(tx, "DELETE FROM registry_pointer WHERE id = $1", &[&old])
            .await
            .map_err(store_error)?;
        if deleted == 0 {
            return Err(SupersedeRefusal::Missing.into());
        }
    }
    let stored = stamped(pointer.clone(), 1, now);
    if write(tx, &stored, None).await? == 0 {
        return Err(WriteError::DuplicateId);
    }
    Ok(stored)
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
    let stored = next_version(pointer.clone(), (row.get(0), row.get(1)), expected, now)?;
    if write(tx, &stored, Some(expected)).await? == 1 {
        return Ok(stored);
    }
    Err(refusal(version_of(tx, &stored.id).await?))
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
    Err(refusal(version_of(tx, id).await?))
}

async fn get<C: GenericClient>(c: &C, id: &str) -> Result<Option<StoredPointer>, StoreError> {
    let row = sql::opt(
        c,
        &format!("SELECT {COLUMNS} FROM registry_pointer WHERE id = $1"),
        &[&id],
    )
    .await
    .map_err(db)?;
    row.map(|r| RawRow::read(&r, 0).map_err(db)?.into_pointer())
        .transpose()
}

/// Counts every match, then reads one page after the cursor, in one snapshot.
async fn search<C: GenericClient>(c: &C, query: &PointerQuery) -> Result<PointerPage, StoreError> {
    let subject = query.subject.as_str().to_string();
    let mut filter = String::from("subject = $1");
    let mut values: Vec<&(dyn ToSql + Sync)> = vec![&subject];
    for (column, value) in filters(query) {
        values.push(value);
        filter.push_str(&format!(" AND {column} = ${}", values.len()));
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
    let rows = rows
        .iter()
        .map(|r| Ok((r.try_get(0)?, RawRow::read(r, 1)?)))
        .collect::<Result<Vec<_>, tokio_postgres::Error>>()
        .map_err(db)?;
    page(rows, total, limit)
}
