//! Reference resources and schedules: rewritten whole, with a version that grows by one on
//! every change even when two instances write the same resource at once (the stored row is
//! locked before the next version is decided).

use bars_fhir::Instant;
use bars_fhir::resource::stamp;
use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use tokio_postgres::Row;

use super::errors::db;
use super::sql::{self, in_order};
use crate::columns::{instant, version};
use crate::error::StoreError;
use crate::model::{ScheduleRecord, StoredResource};

/// How often an insert that met a concurrent insert of the same key looks again.
const RACES: usize = 3;

/// The version and `lastUpdated` after `previous` (version, last_updated_ns), if any.
fn next(previous: Option<&Row>, now: Instant) -> (u64, Instant) {
    match previous {
        None => (1, now),
        Some(r) => (version(r.get(0)) + 1, now.after(instant(r.get(1)))),
    }
}

/// Writes the next version of a row read `FOR UPDATE`: an INSERT when there was none (which
/// does nothing if a concurrent transaction inserted first), else an UPDATE. True when this
/// call wrote it; false sends the caller round again.
async fn write_version(
    tx: &Transaction<'_>,
    absent: bool,
    insert: &str,
    update: &str,
    params: sql::Params<'_>,
) -> Result<bool, StoreError> {
    let statement = if absent { insert } else { update };
    Ok(sql::exec(tx, statement, params).await.map_err(db)? == 1)
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

pub(super) async fn put_resource(
    tx: &Transaction<'_>,
    rt: &str,
    id: &str,
    body: &Value,
    now: Instant,
) -> Result<StoredResource, StoreError> {
    for _ in 0..RACES {
        let previous = sql::opt(
            tx,
            "SELECT version, last_updated_ns FROM resource WHERE resource_type = $1 AND id = $2 FOR UPDATE",
            &[&rt, &id],
        )
        .await
        .map_err(db)?;
        let (v, at) = next(previous.as_ref(), now);
        let mut stamped = body.clone();
        stamp(&mut stamped, id, v, at);
        let text = stamped.to_string();
        let params: sql::Params = &[&rt, &id, &(v as i64), &at.unix_nanos(), &text];
        let insert = "INSERT INTO resource (resource_type, id, version, last_updated_ns, body) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING";
        let update = "UPDATE resource SET version = $3, last_updated_ns = $4, body = $5 WHERE resource_type = $1 AND id = $2";
        if write_version(tx, previous.is_none(), insert, update, params).await? {
            return Ok(StoredResource {
                resource_type: rt.into(),
                id: id.into(),
                version: v,
                last_updated: at,
                body: text,
            });
        }
    }
    Err(StoreError::Unavailable(format!(
        "{rt}/{id} kept changing while it was written"
    )))
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

pub(super) async fn put_schedule(
    tx: &Transaction<'_>,
    id: &str,
    service_id: &str,
    body: &Value,
    template: &Value,
    now: Instant,
) -> Result<ScheduleRecord, StoreError> {
    let template = template.to_string();
    for _ in 0..RACES {
        let previous = sql::opt(
            tx,
            "SELECT version, last_updated_ns FROM schedule WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await
        .map_err(db)?;
        let (v, at) = next(previous.as_ref(), now);
        let mut stamped = body.clone();
        stamp(&mut stamped, id, v, at);
        let text = stamped.to_string();
        let params: sql::Params = &[
            &id,
            &service_id,
            &(v as i64),
            &at.unix_nanos(),
            &text,
            &template,
        ];
        let insert = "INSERT INTO schedule (id, service_id, version, last_updated_ns, body, slot_template) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT DO NOTHING";
        let update = "UPDATE schedule SET service_id = $2, version = $3, last_updated_ns = $4, body = $5, slot_template = $6 WHERE id = $1";
        if write_version(tx, previous.is_none(), insert, update, params).await? {
            return Ok(ScheduleRecord {
                id: id.into(),
                service_id: service_id.into(),
                version: v,
                last_updated: at,
                body: text,
                slot_template: template,
            });
        }
    }
    Err(StoreError::Unavailable(format!(
        "Schedule/{id} kept changing while it was written"
    )))
}

/// The schedules of `ids` that exist, in the order asked for.
pub(super) async fn get_schedules<C: GenericClient>(
    c: &C,
    ids: &[String],
) -> Result<Vec<ScheduleRecord>, StoreError> {
    let rows = sql::rows(
        c,
        &format!("SELECT {SCHEDULE_COLUMNS} FROM schedule WHERE id = ANY($1)"),
        &[&ids],
    )
    .await
    .map_err(db)?;
    let found: Vec<ScheduleRecord> = rows.iter().map(schedule_row).collect();
    Ok(in_order(ids, found, |s| &s.id))
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
