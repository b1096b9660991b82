//! Reference resources and schedules: rewritten whole, with a version that grows by one on
//! every change (the writer thread serialises the read of the stored version and the write).

use bars_fhir::Instant;
use bars_fhir::resource::stamp;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{each_found, unavailable};
use crate::columns::{instant, version};
use crate::error::StoreError;
use crate::model::{ScheduleRecord, StoredResource};

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

/// The version and `lastUpdated` a rewritten resource gets: one more than the stored version
/// (1 for a new one), and a time that never goes backwards. `select` reads (version,
/// last_updated_ns) of the stored one.
fn next_version(
    c: &Connection,
    select: &str,
    key: impl rusqlite::Params,
    now: Instant,
) -> Result<(u64, Instant), StoreError> {
    let previous: Option<(i64, i64)> = c
        .query_row(select, key, |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(unavailable)?;
    Ok(match previous {
        None => (1, now),
        Some((v, ns)) => (version(v) + 1, now.after(instant(ns))),
    })
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
    rt: &str,
    id: &str,
    mut body: serde_json::Value,
    now: Instant,
) -> Result<StoredResource, StoreError> {
    let (new_version, last_updated) = next_version(
        c,
        "SELECT version, last_updated_ns FROM resource WHERE resource_type = ?1 AND id = ?2",
        params![rt, id],
        now,
    )?;
    stamp(&mut body, id, new_version, last_updated);
    let text = json_text(&body);
    c.prepare_cached(
        "INSERT INTO resource (resource_type, id, version, last_updated_ns, body) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (resource_type, id) DO UPDATE SET version = excluded.version, last_updated_ns = excluded.last_updated_ns, body = excluded.body",
    )
    .and_then(|mut s| s.execute(params![rt, id, new_version as i64, last_updated.unix_nanos(), text]))
    .map_err(unavailable)?;
    Ok(StoredResource {
        resource_type: rt.into(),
        id: id.into(),
        version: new_version,
        last_updated,
        body: text,
    })
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
    id: &str,
    service_id: &str,
    mut body: serde_json::Value,
    template: serde_json::Value,
    now: Instant,
) -> Result<ScheduleRecord, StoreError> {
    let (new_version, last_updated) = next_version(
        c,
        "SELECT version, last_updated_ns FROM schedule WHERE id = ?1",
        params![id],
        now,
    )?;
    stamp(&mut body, id, new_version, last_updated);
    let (text, template) = (json_text(&body), json_text(&template));
    c.execute(
        "INSERT INTO schedule (id, service_id, version, last_updated_ns, body, slot_template) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET service_id = excluded.service_id, version = excluded.version,
             last_updated_ns = excluded.last_updated_ns, body = excluded.body, slot_template = excluded.slot_template",
        params![id, service_id, new_version as i64, last_updated.unix_nanos(), text, template],
    )
    .map_err(unavailable)?;
    Ok(ScheduleRecord {
        id: id.into(),
        service_id: service_id.into(),
        version: new_version,
        last_updated,
        body: text,
        slot_template: template,
    })
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
