//! Reference resources and schedules: each version written whole, as the text its owner
//! stamped, guarded by the version it follows, so that of two instances writing the same
//! resource at once one wins and the other is told to read again.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::errors::db;
use super::sql;
use crate::columns::{instant, version};
use crate::error::{PutError, StoreError};
use crate::model::{ScheduleRecord, StoredResource};

/// Writes a version its owner stamped: the first with an INSERT that does nothing if a row is
/// there already (a concurrent INSERT included: it waits for that one's outcome), a later one
/// with an UPDATE from the version it follows (re-checked on the newest row after waiting for
/// a concurrent writer). `params` bind both statements, the version followed last (the INSERT
/// takes all but that one); a statement that writes nothing means another writer got there
/// first.
async fn write_version<C: GenericClient>(
    c: &C,
    expected: Option<u64>,
    insert: &str,
    update: &str,
    params: sql::Params<'_>,
) -> Result<(), PutError> {
    let (statement, params) = match expected {
        None => (insert, &params[..params.len() - 1]),
        Some(_) => (update, params),
    };
    if sql::exec(c, statement, params).await.map_err(db)? == 0 {
        return Err(PutError::VersionConflict);
    }
    Ok(())
}

fn resource_row(r: &Row) -> StoredResource {
    StoredResource {
        resource_type: r.get(0),
        id: r.get(1),
        version: version(r.get(2)),
        last_updated: instant(r.get(3)),
        body: r.get(4),
    }
}

pub(super) async fn put_resource<C: GenericClient>(
    c: &C,
    r: &StoredResource,
    expected: Option<u64>,
) -> Result<(), PutError> {
    write_version(
        c,
        expected,
        "INSERT INTO resource (resource_type, id, version, last_updated_ns, body) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT DO NOTHING",
        "UPDATE resource SET version = $3, last_updated_ns = $4, body = $5
         WHERE resource_type = $1 AND id = $2 AND version = $6",
        &[
            &r.resource_type,
            &r.id,
            &(r.version as i64),
            &r.last_updated.unix_nanos(),
            &r.body,
            &expected.map(|v| v as i64),
        ],
    )
    .await
}

pub(super) async fn get_resource<C: GenericClient>(
    c: &C,
    rt: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    let row = sql::opt(
        c,
        "SELECT resource_type, id, version, last_updated_ns, body FROM resource WHERE resource_type = $1 AND id = $2",
        &[&rt, &id],
    )
    .await
    .map_err(db)?;
    Ok(row.as_ref().map(resource_row))
}

pub(super) async fn list_resources<C: GenericClient>(
    c: &C,
    rt: &str,
) -> Result<Vec<StoredResource>, StoreError> {
    let rows = sql::rows(
        c,
        "SELECT resource_type, id, version, last_updated_ns, body FROM resource WHERE resource_type = $1 ORDER BY id",
        &[&rt],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(resource_row).collect())
}

const SCHEDULE_COLUMNS: &str = "id, service_id, version, last_updated_ns, body, slot_template";

fn schedule_row(r: &Row) -> ScheduleRecord {
    ScheduleRecord {
        id: r.get(0),
        service_id: r.get(1),
        version: version(r.get(2)),
        last_updated: instant(r.get(3)),
        body: r.get(4),
        slot_template: r.get(5),
    }
}

pub(super) async fn put_schedule<C: GenericClient>(
    c: &C,
    s: &ScheduleRecord,
    expected: Option<u64>,
) -> Result<(), PutError> {
    write_version(
        c,
        expected,
        "INSERT INTO schedule (id, service_id, version, last_updated_ns, body, slot_template) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING",
        "UPDATE schedule SET service_id = $2, version = $3, last_updated_ns = $4, body = $5, slot_template = $6
         WHERE id = $1 AND version = $7",
        &[
            &s.id,
            &s.service_id,
            &(s.version as i64),
            &s.last_updated.unix_nanos(),
            &s.body,
            &s.slot_template,
            &expected.map(|v| v as i64),
        ],
    )
    .await
}

/// The schedules of `ids` that exist, in the order asked for.
pub(super) async fn get_schedules<C: GenericClient>(
    c: &C,
    ids: &[String],
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let select = format!("SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE id = ANY($1)");
    sql::each_found(c, &select, ids, schedule_row, |s| &s.id)
        .await
        .map_err(db)
}

pub(super) async fn schedules_for_service<C: GenericClient>(
    c: &C,
    service_id: &str,
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let rows = sql::rows(
        c,
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE service_id = $1 ORDER BY id"),
        &[&service_id],
    )
    .await
    .map_err(db)?;
    Ok(rows.iter().map(schedule_row).collect())
}
