//! Request records: the idempotency key of every write.
//!
//! Records are kept in the order they are made (a rowid table) and found through an index of a
//! hash of their key ([`key_hash`]), not keyed by the key itself. Senders' request ids are
//! random, and a table ordered by them puts each new record on a random page: as records
//! accumulated, that page was ever less often in the writer's cache (profiled over a bench's
//! runs: the writer's page reads under this insert more than doubled), and each record's page
//! split as it filled. An index entry of an integer is a fraction of a record's size, so many
//! times as many stay cached, and records are appended to the table's last page
//! (docs/BENCHMARKS.md: the storage ceiling 12-21% higher, its p99 a third lower).
//!
//! A hash is not unique: two keys may share one. Every lookup compares the whole key, and the
//! key's uniqueness is kept by [`insert`] looking before it writes. That is safe because every
//! insert runs in the writer's `BEGIN IMMEDIATE` transaction, which holds the database's write
//! lock from the look to the write.

use bars_fhir::Instant;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::unavailable;
use crate::columns::instant;
use crate::error::StoreError;
use crate::model::{IdempotencyKey, IdempotencyRecord, RequestOutcome};

/// The name under which [`key_hash`] is callable from SQL: the schema step that moved the
/// records to this layout computes it for the records already kept.
const KEY_HASH_FUNCTION: &str = "bars_request_key_hash";

/// A record's index key: the first eight bytes of the SHA-256 of its key's three parts, each
/// preceded by its length (so that no two keys are encoded alike). It is stored, so it must
/// never change between builds: a documented digest rather than the standard library's hasher,
/// whose algorithm is unspecified. A sender choosing its ids to collide only slows lookups of
/// its own keys, which are still compared whole.
fn key_hash(request_id: &str, correlation_id: &str, sender: &str) -> i64 {
    let mut digest = Sha256::new();
    for part in [request_id, correlation_id, sender] {
        digest.update((part.len() as u64).to_le_bytes());
        digest.update(part.as_bytes());
    }
    let bytes = digest.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    i64::from_le_bytes(first)
}

/// Makes [`key_hash`] callable from SQL on `c`, as [`KEY_HASH_FUNCTION`].
pub(super) fn register_key_hash(c: &Connection) -> rusqlite::Result<()> {
    c.create_scalar_function(
        KEY_HASH_FUNCTION,
        3,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            Ok(key_hash(
                &ctx.get::<String>(0)?,
                &ctx.get::<String>(1)?,
                &ctx.get::<String>(2)?,
            ))
        },
    )
}

fn hash_of(key: &IdempotencyKey) -> i64 {
    key_hash(&key.request_id, &key.correlation_id, &key.sender)
}

/// Inserts a request record; returns false when one already exists for the key. With
/// `ignore_existing` the existing record is silently kept (and true returned). Runs in the
/// writer's transaction, which makes the look and the write one step (see the module's doc).
pub(super) fn insert(
    c: &Connection,
    record: &IdempotencyRecord,
    ignore_existing: bool,
) -> Result<bool, StoreError> {
    if find(c, &record.key)?.is_some() {
        return Ok(ignore_existing);
    }
    let (succeeded, status, body, location) = match &record.outcome {
        RequestOutcome::Succeeded { location } => (1, None, None, location.clone()),
        RequestOutcome::Failed { status, body } => {
            (0, Some(i64::from(*status)), Some(body.clone()), None)
        }
    };
    c.prepare_cached(
        "INSERT INTO request (key_hash, request_id, correlation_id, sender, succeeded, status, body, location, recorded_ns)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut s| {
        s.execute(params![
            hash_of(&record.key),
            record.key.request_id,
            record.key.correlation_id,
            record.key.sender,
            succeeded,
            status,
            body,
            location,
            record.recorded.unix_nanos()
        ])
    })
    .map(|_| true)
    .map_err(unavailable)
}

pub(super) fn find(
    c: &Connection,
    key: &IdempotencyKey,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    c.prepare_cached(
        "SELECT succeeded, status, body, location, recorded_ns FROM request
         WHERE key_hash = ?1 AND request_id = ?2 AND correlation_id = ?3 AND sender = ?4",
    )
    .and_then(|mut s| {
        s.query_row(
            params![hash_of(key), key.request_id, key.correlation_id, key.sender],
            |r| {
                let succeeded: i64 = r.get(0)?;
                let outcome = if succeeded == 1 {
                    RequestOutcome::Succeeded {
                        location: r.get(3)?,
                    }
                } else {
                    let status: Option<i64> = r.get(1)?;
                    RequestOutcome::Failed {
                        status: status.unwrap_or(500) as u16,
                        body: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    }
                };
                Ok(IdempotencyRecord {
                    key: key.clone(),
                    outcome,
                    recorded: instant(r.get(4)?),
                })
            },
        )
        .optional()
    })
    .map_err(unavailable)
}

pub(super) fn purge(c: &Connection, before: Instant) -> Result<usize, StoreError> {
    c.execute(
        "DELETE FROM request WHERE recorded_ns < ?1",
        params![before.unix_nanos()],
    )
    .map_err(unavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::migrate::{self, Migrations};
    use crate::sqlite::schema::RECEIVER;

    fn key(request_id: &str) -> IdempotencyKey {
        IdempotencyKey {
            request_id: request_id.into(),
            correlation_id: "c-1".into(),
            sender: "RYZ01".into(),
        }
    }

    fn record(request_id: &str, outcome: RequestOutcome) -> IdempotencyRecord {
        IdempotencyRecord {
            key: key(request_id),
            outcome,
            recorded: Instant::from_unix_nanos(1_700_000_000_000_000_000, 9),
        }
    }

    fn current() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        migrate::apply(&mut c, &RECEIVER).unwrap();
        c
    }

    /// The hash is stored: a build that hashed differently would find none of the records
    /// kept before it. The figure is the one an independent SHA-256 gives for the same bytes.
    #[test]
    fn the_key_hash_is_the_same_in_every_build_and_encodes_each_part_apart() {
        assert_eq!(key_hash("r-1", "c-1", "RYZ01"), 5_331_135_784_462_941_770);
        assert_ne!(key_hash("ab", "c", "d"), key_hash("a", "bc", "d"));
        assert_ne!(key_hash("a", "", "b"), key_hash("a", "b", ""));
    }

    #[test]
    fn records_kept_before_the_new_layout_are_moved_with_their_hashes() {
        let mut c = Connection::open_in_memory().unwrap();
        let before = Migrations {
            component: RECEIVER.component,
            steps: &RECEIVER.steps[..2],
        };
        migrate::apply(&mut c, &before).unwrap();
        c.execute_batch(
            "INSERT INTO request (request_id, correlation_id, sender, succeeded, status, body, location, recorded_ns)
             VALUES ('r-1', 'c-1', 'RYZ01', 1, NULL, NULL, 'Appointment/a-1', 5),
                    ('r-2', 'c-1', 'RYZ01', 0, 422, '{\"resourceType\":\"OperationOutcome\"}', NULL, 6);",
        )
        .unwrap();
        migrate::apply(&mut c, &RECEIVER).unwrap();

        let booked = find(&c, &key("r-1"))
            .unwrap()
            .expect("the booking's record");
        assert_eq!(
            booked.outcome,
            RequestOutcome::Succeeded {
                location: Some("Appointment/a-1".into())
            }
        );
        assert_eq!(booked.recorded.unix_nanos(), 5);
        let refused = find(&c, &key("r-2"))
            .unwrap()
            .expect("the refusal's record");
        assert_eq!(
            refused.outcome,
            RequestOutcome::Failed {
                status: 422,
                body: "{\"resourceType\":\"OperationOutcome\"}".into()
            }
        );
        // A moved record still refuses its key a second time.
        let again = record(
            "r-1",
            RequestOutcome::Succeeded {
                location: Some("Appointment/a-2".into()),
            },
        );
        assert!(!insert(&c, &again, false).unwrap());
        assert!(find(&c, &key("r-3")).unwrap().is_none());
    }

    /// Two keys may share a hash: each is found as itself, and neither stops the other's
    /// record being written.
    #[test]
    fn a_key_sharing_its_hash_with_another_is_told_apart() {
        let c = current();
        let mine = key("r-1");
        c.execute(
            "INSERT INTO request (key_hash, request_id, correlation_id, sender, succeeded, recorded_ns)
             VALUES (?1, 'someone-else', 'c-9', 'RXX99', 1, 1)",
            params![hash_of(&mine)],
        )
        .unwrap();
        assert!(find(&c, &mine).unwrap().is_none());
        let booked = record("r-1", RequestOutcome::Succeeded { location: None });
        assert!(insert(&c, &booked, false).unwrap());
        assert_eq!(find(&c, &mine).unwrap(), Some(booked.clone()));
        assert!(!insert(&c, &booked, false).unwrap());
        assert!(insert(&c, &booked, true).unwrap(), "kept silently");
        let rows: i64 = c
            .query_row("SELECT count(*) FROM request", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
    }
}
