//! The Registry's store on SQLite, on the shared [`Database`] handle (group-commit writer, WAL
//! readers). Pointers are JSON text beside indexed key columns; every value is a bound parameter.

use std::path::Path;
use std::sync::Arc;

use bars_fhir::Instant;
use bars_store::StoreError;
use bars_store::sqlite::migrate::Migrations;
use bars_store::sqlite::{Database, SqliteOptions, classify, is_unique_violation};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::store::{
    NewPointer, PointerPage, PointerQuery, RegistryBackend, StoredPointer, WriteError,
};
use crate::table::{
    COLUMNS, RawRow, RowValues, check_supersede, filters, next_version, page, refusal, schema,
    stamped,
};

/// The Registry's schema steps, append-only (see [`schema!`]); AUTOINCREMENT keeps `seq` from
/// ever being reused.
pub static MIGRATIONS: Migrations = Migrations {
    component: "registry",
    steps: &[schema!("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER")],
};

pub struct SqliteRegistryStore {
    db: Arc<Database>,
}

impl SqliteRegistryStore {
    /// Opens (creating if needed) a database file holding only the Registry.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteRegistryStore, StoreError> {
        Self::open_with(path, SqliteOptions::default())
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> Result<SqliteRegistryStore, StoreError> {
        let db = Database::open(path, options, &[&MIGRATIONS])?;
        Ok(SqliteRegistryStore { db: Arc::new(db) })
    }

    /// Uses a database shared with other components; it must have been opened with
    /// [`MIGRATIONS`] among its migrations ([`crate::RegistryStore::ping`] reports it if not).
    pub fn on(db: Arc<Database>) -> SqliteRegistryStore {
        SqliteRegistryStore { db }
    }

    pub fn path(&self) -> &Path {
        self.db.path()
    }
}

impl RegistryBackend for SqliteRegistryStore {
    async fn create(
        &self,
        pointer: NewPointer,
        supersede: Option<String>,
    ) -> Result<StoredPointer, WriteError> {
        self.db
            .write(move |c| create(c, pointer.clone(), supersede.as_deref(), Instant::now()))
            .await
    }

    async fn get(&self, id: &str) -> Result<Option<StoredPointer>, StoreError> {
        let id = id.to_string();
        self.db.read(move |c| get(c, &id)).await
    }

    async fn update(
        &self,
        pointer: NewPointer,
        expected_version: u64,
    ) -> Result<StoredPointer, WriteError> {
        self.db
            .write(move |c| update(c, pointer.clone(), expected_version, Instant::now()))
            .await
    }

    async fn delete(&self, id: &str, expected_version: u64) -> Result<(), WriteError> {
        let id = id.to_string();
        self.db
            .write(move |c| delete(c, &id, expected_version))
            .await
    }

    async fn search(&self, query: PointerQuery) -> Result<PointerPage, StoreError> {
        self.db.read(move |c| search(c, &query)).await
    }

    fn pool_status(&self) -> Vec<bars_store::PoolStatus> {
        self.db.pool_status()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping(&[&MIGRATIONS]).await
    }
}

fn store_error(e: rusqlite::Error) -> WriteError {
    WriteError::Store(classify(e))
}

/// The stored version and lastUpdated of a pointer, if it exists.
fn version_of(conn: &Connection, id: &str) -> Result<Option<(i64, String)>, WriteError> {
    conn.prepare_cached("SELECT version, last_updated FROM registry_pointer WHERE id = ?1")
        .and_then(|mut s| s.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(store_error)
}

/// Writes `p` as a new row (`expected` is `None`) or over the version it replaces; returns
/// how many rows it wrote.
fn write(conn: &Connection, p: &StoredPointer, expected: Option<u64>) -> rusqlite::Result<usize> {
    let v = RowValues::of(p);
    let values = params![
        v.id,
        v.custodian,
        v.subject,
        v.type_token,
        v.category_token,
        v.appointment_id,
        v.version,
        v.last_updated,
        v.body,
        expected.map(|e| e as i64),
    ];
    let (statement, values) = match expected {
        None => (
            "INSERT INTO registry_pointer (id, custodian, subject, type, category, appointment_id, version, last_updated, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &values[..9],
        ),
        Some(_) => (
            "UPDATE registry_pointer
             SET custodian = ?2, subject = ?3, type = ?4, category = ?5, appointment_id = ?6,
                 version = ?7, last_updated = ?8, body = ?9
             WHERE id = ?1 AND version = ?10",
            values,
        ),
    };
    conn.prepare_cached(statement)
        .and_then(|mut s| s.execute(values))
}

fn create(
    conn: &Connection,
    pointer: NewPointer,
    supersede: Option<&str>,
    now: Instant,
) -> Result<StoredPointer, WriteError> {
    if let Some(old) = supersede {
        let found = conn
            .prepare_cached("SELECT custodian, subject, type FROM registry_pointer WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([old], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(store_error)?;
        check_supersede(found, &pointer.keys)?;
        conn.prepare_cached("DELETE FROM registry_pointer WHERE id = ?1")
            .and_then(|mut s| s.execute([old]))
            .map_err(store_error)?;
    }
    let stored = stamped(pointer, 1, now);
    match write(conn, &stored, None) {
        Ok(_) => Ok(stored),
        Err(e) if is_unique_violation(&e) => Err(WriteError::DuplicateId),
        Err(e) => Err(store_error(e)),
    }
}

fn update(
    conn: &Connection,
    pointer: NewPointer,
    expected: u64,
    now: Instant,
) -> Result<StoredPointer, WriteError> {
    let current = version_of(conn, &pointer.id)?.ok_or(WriteError::NotFound)?;
    let stored = next_version(pointer, current, expected, now)?;
    if write(conn, &stored, Some(expected)).map_err(store_error)? == 1 {
        return Ok(stored);
    }
    Err(refusal(version_of(conn, &stored.id)?.map(|(v, _)| v)))
}

fn delete(conn: &Connection, id: &str, expected: u64) -> Result<(), WriteError> {
    let changed = conn
        .prepare_cached("DELETE FROM registry_pointer WHERE id = ?1 AND version = ?2")
        .and_then(|mut s| s.execute(params![id, expected as i64]))
        .map_err(store_error)?;
    if changed == 1 {
        return Ok(());
    }
    Err(refusal(version_of(conn, id)?.map(|(v, _)| v)))
}

fn get(conn: &Connection, id: &str) -> Result<Option<StoredPointer>, StoreError> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM registry_pointer WHERE id = ?1"
        ))
        .and_then(|mut s| s.query_row([id], |r| RawRow::read(r, 0)).optional())
        .map_err(classify)?;
    row.map(RawRow::into_pointer).transpose()
}

/// Counts every match, then reads one page after the cursor. Both run on the same read
/// connection, so the total and the page come from one snapshot.
fn search(conn: &Connection, query: &PointerQuery) -> Result<PointerPage, StoreError> {
    let mut filter = String::from("subject = ?");
    let mut values: Vec<SqlValue> = vec![SqlValue::Text(query.subject.as_str().to_string())];
    for (column, value) in filters(query) {
        filter.push_str(" AND ");
        filter.push_str(column);
        filter.push_str(" = ?");
        values.push(SqlValue::Text(value.clone()));
    }
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM registry_pointer WHERE {filter}"
        ))
        .and_then(|mut s| s.query_row(params_from_iter(values.iter()), |r| r.get(0)))
        .map_err(classify)?;

    let limit = query.limit.max(1);
    let mut page_values = values;
    page_values.push(SqlValue::Integer(query.after.map_or(0, |c| c.after)));
    page_values.push(SqlValue::Integer(limit as i64 + 1));
    let rows: Vec<(i64, RawRow)> = conn
        .prepare_cached(&format!(
            "SELECT seq, {COLUMNS} FROM registry_pointer WHERE {filter} AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .and_then(|mut s| {
            s.query_map(params_from_iter(page_values.iter()), |r| {
                Ok((r.get::<_, i64>(0)?, RawRow::read(r, 1)?))
            })?
            .collect()
        })
        .map_err(classify)?;
    page(rows, total, limit)
}

#[cfg(test)]
mod tests {
    use bars_fhir::NhsNumber;
    use serde_json::json;

    use super::*;
    use crate::store::{PointerKeys, SupersedeRefusal};

    const PATIENT: &str = "9693893123";
    const OTHER_PATIENT: &str = "9434765919";
    const BOOKING: &str = "http://snomed.info/sct|749001000000101";

    fn keys(custodian: &str, nhs: &str, type_token: &str) -> PointerKeys {
        PointerKeys {
            custodian: custodian.into(),
            subject: NhsNumber::parse(nhs).unwrap(),
            type_token: type_token.into(),
            category_token: "http://snomed.info/sct|419891008".into(),
            appointment_id: Some("appt-1".into()),
        }
    }

    fn pointer(id: &str, keys: PointerKeys) -> NewPointer {
        NewPointer {
            id: id.into(),
            keys,
            body: json!({"resourceType": "DocumentReference", "status": "current"}),
        }
    }

    fn open() -> (tempfile::TempDir, SqliteRegistryStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteRegistryStore::open(dir.path().join("registry.db")).unwrap();
        (dir, store)
    }

    fn query(nhs: &str, limit: usize) -> PointerQuery {
        PointerQuery {
            subject: NhsNumber::parse(nhs).unwrap(),
            type_token: None,
            custodian: None,
            category_token: None,
            after: None,
            limit,
        }
    }

    #[tokio::test]
    async fn versions_grow_and_guards_hold() {
        let (_dir, store) = open();
        store.ping().await.unwrap();
        let created = store
            .create(pointer("RGT-1", keys("RGT", PATIENT, BOOKING)), None)
            .await
            .unwrap();
        assert_eq!(created.version, 1);
        assert_eq!(created.body["id"], "RGT-1");
        assert_eq!(created.body["meta"]["versionId"], "1");

        let read = store.get("RGT-1").await.unwrap().unwrap();
        assert_eq!(read.body, created.body);
        assert_eq!(read.keys, created.keys);

        let updated = store
            .update(pointer("RGT-1", keys("RGT", PATIENT, BOOKING)), 1)
            .await
            .unwrap();
        assert_eq!(updated.version, 2);
        assert!(updated.last_updated > created.last_updated);
        assert_eq!(
            store
                .update(pointer("RGT-1", keys("RGT", PATIENT, BOOKING)), 1)
                .await
                .unwrap_err(),
            WriteError::VersionMismatch { current: 2 }
        );
        assert_eq!(
            store
                .update(pointer("RGT-9", keys("RGT", PATIENT, BOOKING)), 1)
                .await
                .unwrap_err(),
            WriteError::NotFound
        );
        assert_eq!(
            store.delete("RGT-1", 1).await.unwrap_err(),
            WriteError::VersionMismatch { current: 2 }
        );
        store.delete("RGT-1", 2).await.unwrap();
        assert!(store.get("RGT-1").await.unwrap().is_none());
        assert_eq!(
            store.delete("RGT-1", 2).await.unwrap_err(),
            WriteError::NotFound
        );
    }

    #[tokio::test]
    async fn duplicate_ids_are_refused() {
        let (_dir, store) = open();
        let p = pointer("RGT-1", keys("RGT", PATIENT, BOOKING));
        store.create(p.clone(), None).await.unwrap();
        assert_eq!(
            store.create(p, None).await.unwrap_err(),
            WriteError::DuplicateId
        );
    }

    #[tokio::test]
    async fn supersede_replaces_only_a_matching_pointer_atomically() {
        let (_dir, store) = open();
        store
            .create(pointer("RGT-old", keys("RGT", PATIENT, BOOKING)), None)
            .await
            .unwrap();
        let refusals = [
            (
                keys("XYZ", PATIENT, BOOKING),
                SupersedeRefusal::OtherCustodian,
            ),
            (
                keys("RGT", OTHER_PATIENT, BOOKING),
                SupersedeRefusal::OtherSubject,
            ),
            (
                keys("RGT", PATIENT, "http://snomed.info/sct|3457005"),
                SupersedeRefusal::OtherType,
            ),
        ];
        for (i, (k, refusal)) in refusals.into_iter().enumerate() {
            let id = format!("RGT-new{i}");
            assert_eq!(
                store
                    .create(pointer(&id, k), Some("RGT-old".into()))
                    .await
                    .unwrap_err(),
                WriteError::Supersede(refusal)
            );
            // Refused means nothing happened: the new pointer was not stored either.
            assert!(store.get(&id).await.unwrap().is_none());
        }
        assert_eq!(
            store
                .create(
                    pointer("RGT-x", keys("RGT", PATIENT, BOOKING)),
                    Some("RGT-none".into())
                )
                .await
                .unwrap_err(),
            WriteError::Supersede(SupersedeRefusal::Missing)
        );
        assert!(store.get("RGT-old").await.unwrap().is_some());
        store
            .create(
                pointer("RGT-new", keys("rgt", PATIENT, BOOKING)),
                Some("RGT-old".into()),
            )
            .await
            .unwrap();
        assert!(store.get("RGT-old").await.unwrap().is_none());
        assert!(store.get("RGT-new").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn search_pages_in_a_stable_order_with_a_total() {
        let (_dir, store) = open();
        for i in 0..7 {
            let custodian = if i % 2 == 0 { "RGT" } else { "V4T0L" };
            store
                .create(
                    pointer(
                        &format!("{custodian}-{i}"),
                        keys(custodian, PATIENT, BOOKING),
                    ),
                    None,
                )
                .await
                .unwrap();
        }
        store
            .create(
                pointer("RGT-other", keys("RGT", OTHER_PATIENT, BOOKING)),
                None,
            )
            .await
            .unwrap();

        let mut seen = Vec::new();
        let mut q = query(PATIENT, 3);
        loop {
            let page = store.search(q.clone()).await.unwrap();
            assert_eq!(page.total, 7);
            seen.extend(page.pointers.iter().map(|p| p.id.clone()));
            match page.next {
                Some(next) => q.after = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = (0..7)
            .map(|i| format!("{}-{i}", if i % 2 == 0 { "RGT" } else { "V4T0L" }))
            .collect();
        assert_eq!(seen, expected);

        let mut q = query(PATIENT, 10);
        q.custodian = Some("V4T0L".into());
        let page = store.search(q).await.unwrap();
        assert_eq!(page.total, 3);
        assert!(page.next.is_none());

        let mut q = query(PATIENT, 10);
        q.type_token = Some("http://snomed.info/sct|3457005".into());
        assert_eq!(store.search(q).await.unwrap().total, 0);

        let page = store.search(query("9000000009", 10)).await.unwrap();
        assert_eq!(page.total, 0);
        assert!(page.pointers.is_empty());
    }

    #[tokio::test]
    async fn a_shared_database_needs_the_registry_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.db");
        let bare = Database::open(&path, SqliteOptions::default(), &[]).unwrap();
        assert!(
            SqliteRegistryStore::on(Arc::new(bare))
                .ping()
                .await
                .is_err()
        );
        let db = Database::open(&path, SqliteOptions::default(), &[&MIGRATIONS]).unwrap();
        SqliteRegistryStore::on(Arc::new(db)).ping().await.unwrap();
    }
}
