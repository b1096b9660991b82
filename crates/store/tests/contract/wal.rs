//! SQLite only: the write-ahead log stays bounded under continuous writes while readers
//! overlap so that at no moment is the log free of readers (which starves SQLite's own
//! PASSIVE checkpoints). A size assertion, never a timing one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bars_store::Store;
use bars_store::sqlite::{SqliteOptions, SqliteStore};
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use crate::cases::first_version;

const LIMIT: u64 = 2 * 1024 * 1024;

fn wal_size(db: &std::path::Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(std::path::PathBuf::from(wal)).map_or(0, |m| m.len())
}

/// Two readers taking turns so that one always holds a read transaction open.
fn overlapping_readers(
    db: &std::path::Path,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..2)
        .map(|i| {
            let (db, stop) = (db.to_path_buf(), stop.clone());
            std::thread::spawn(move || {
                let conn =
                    Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(2 * i));
                while !stop.load(Ordering::Relaxed) {
                    conn.execute_batch("BEGIN").unwrap();
                    let _: i64 = conn
                        .query_row("SELECT COUNT(*) FROM resource", [], |r| r.get(0))
                        .unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(4));
                    conn.execute_batch("COMMIT").unwrap();
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_stays_bounded_under_continuous_writes_and_readers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.db");
    let options = SqliteOptions {
        wal_limit_bytes: LIMIT,
        ..SqliteOptions::default()
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_with(&path, options).unwrap());
    store
        .put_resource(
            first_version(
                "Organization",
                "warm",
                json!({"resourceType": "Organization"}),
            ),
            None,
        )
        .await
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let readers = overlapping_readers(&path, stop.clone());
    // About 40 MB of new pages, twenty times the limit, in concurrent writes that the writer
    // groups into batches.
    let filler = "x".repeat(8 * 1024);
    let mut largest = 0;
    for round in 0..100 {
        let writes: Vec<_> = (0..50)
            .map(|i| {
                let (store, filler) = (store.clone(), filler.clone());
                tokio::spawn(async move {
                    store
                        .put_resource(
                            first_version(
                                "Organization",
                                &format!("org-{round}-{i}"),
                                json!({"resourceType": "Organization", "name": filler}),
                            ),
                            None,
                        )
                        .await
                        .unwrap();
                })
            })
            .collect();
        for w in writes {
            w.await.unwrap();
        }
        largest = largest.max(wal_size(&path));
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    // The limit, plus what one batch (50 writes of 8 KiB and their index pages) can add
    // before the writer restarts the log.
    assert!(
        largest <= LIMIT + 4 * 1024 * 1024,
        "the write-ahead log reached {largest} bytes (limit {LIMIT})"
    );
}
