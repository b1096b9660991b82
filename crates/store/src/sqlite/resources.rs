//! Reference resources and schedules: each version written whole, as the text its owner
//! stamped, guarded by the version it follows.

use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{each_found, unavailable};
use crate::columns::{instant, version};
use crate::error::{PutError, StoreError};
use crate::model::{ScheduleRecord, StoredResource};

/// Writes a version its owner stamped: the first with an INSERT that does nothing if a row is
/// there already, a later one with an UPDATE from the version it follows. `params` bind both
/// statements, the version followed last (the INSERT takes all but that one); a statement that
/// writes nothing means another writer got there first.
fn write_version(
    c: &Connection,
    expected: Option<u64>,
    insert: &str,
    update: &str,
    params: &[&dyn ToSql],
) -> Result<(), PutError> {
    let (statement, params) = match expected {
        None => (insert, &params[..params.len() - 1]),
        Some(_) => (update, params),
    };
    let written = c
        .prepare_cached(statement)
        .and_then(|mut s| s.execute(params))
        .map_err(unavailable)?;
    if written == 0 {
        return Err(PutError::VersionConflict);
    }
    Ok(())
}

fn resource_row(r: &Row<'_>) -> rusqlite::Result<StoredResource> {
    Ok(StoredResource {
        resource_type: r.get(0)?,
        id: r.get(1)?,
        version: version(r.get(2)?),
        last_updated: instant(r.get(3)?),
        body: r.get(4)?,
    })
}

pub(super) fn put_resource(
    c: &Connection,
    r: &StoredResource,
    expected: Option<u64>,
) -> Result<(), PutError> {
    write_version(
        c,
        expected,
        "INSERT INTO resource (resource_type, id, version, last_updated_ns, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (resource_type, id) DO NOTHING",
        "UPDATE resource SET version = ?3, last_updated_ns = ?4, body = ?5
         WHERE resource_type = ?1 AND id = ?2 AND version = ?6",
        params![
            r.resource_type,
            r.id,
            r.version as i64,
            r.last_updated.unix_nanos(),
            r.body,
            expected.map(|v| v as i64)
        ],
    )
}

pub(super) fn get_resource(
    c: &Connection,
    rt: &str,
    id: &str,
) -> Result<Option<StoredResource>, StoreError> {
    c.prepare_cached("SELECT resource_type, id, version, last_updated_ns, body FROM resource WHERE resource_type = ?1 AND id = ?2")
        .and_then(|mut s| s.query_row(params![rt, id], resource_row).optional())
        .map_err(unavailable)
}

pub(super) fn list_resources(c: &Connection, rt: &str) -> Result<Vec<StoredResource>, StoreError> {
    let mut s = c.prepare_cached("SELECT resource_type, id, version, last_updated_ns, body FROM resource WHERE resource_type = ?1 ORDER BY id").map_err(unavailable)?;
    s.query_map(params![rt], resource_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}

fn schedule_row(r: &Row<'_>) -> rusqlite::Result<ScheduleRecord> {
    Ok(ScheduleRecord {
        id: r.get(0)?,
        service_id: r.get(1)?,
        version: version(r.get(2)?),
        last_updated: instant(r.get(3)?),
        body: r.get(4)?,
        slot_template: r.get(5)?,
    })
}

const SCHEDULE_COLUMNS: &str = "id, service_id, version, last_updated_ns, body, slot_template";

pub(super) fn put_schedule(
    c: &Connection,
    s: &ScheduleRecord,
    expected: Option<u64>,
) -> Result<(), PutError> {
    write_version(
        c,
        expected,
        "INSERT INTO schedule (id, service_id, version, last_updated_ns, body, slot_template) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO NOTHING",
        "UPDATE schedule SET service_id = ?2, version = ?3, last_updated_ns = ?4, body = ?5, slot_template = ?6
         WHERE id = ?1 AND version = ?7",
        params![
            s.id,
            s.service_id,
            s.version as i64,
            s.last_updated.unix_nanos(),
            s.body,
            s.slot_template,
            expected.map(|v| v as i64)
        ],
    )
}

pub(super) fn get_schedules(
    c: &Connection,
    ids: &[String],
) -> Result<Vec<ScheduleRecord>, StoreError> {
    each_found(
        c,
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE id = ?1"),
        ids,
        schedule_row,
    )
}

pub(super) fn schedules_for_service(
    c: &Connection,
    service_id: &str,
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let mut s = c
        .prepare_cached(&format!(
            "SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE service_id = ?1 ORDER BY id"
        ))
        .map_err(unavailable)?;
    s.query_map(params![service_id], schedule_row)
        .and_then(Iterator::collect)
        .map_err(unavailable)
}
