//! Group commit: one thread owns the only write connection and commits many requests' changes
//! together.
//!
//! Requests queue their write jobs on a channel. The writer takes whatever has queued while it
//! was busy, opens one `BEGIN IMMEDIATE`, runs each job inside its own `SAVEPOINT` (a failing job
//! is rolled back alone), and commits once: one fsync acknowledges the whole batch. Each caller
//! hears of its result only after that commit is durable. Under light load a batch holds one
//! job, so batching adds no latency; under heavy load the fsync cost is shared.
//!
//! Checkpoints (copying the write-ahead log back into the database file) are not the writer's
//! job: SQLite's automatic checkpoint would run inside a batch's COMMIT and make every caller
//! of that batch wait for it. A checkpointer thread with a connection of its own does them
//! beside the writer (a PASSIVE checkpoint and a writer run at the same time), woken by the
//! writer's commits. The writer itself keeps the log bounded: when it has grown past its limit
//! (readers that never pause starve PASSIVE checkpoints), it checkpoints with RESTART between
//! batches, which waits for readers to move off the log and starts it again from the top. Only
//! the writer can do that: a RESTART must also find no writer, which a busy writer never
//! leaves room for.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;

/// The most jobs one transaction carries; bounds the time a batch holds the write lock.
const MAX_BATCH: usize = 512;
/// Jobs waiting for the writer before callers are made to wait their turn (back-pressure).
const QUEUE_DEPTH: usize = 8192;

trait Job: Send {
    /// Runs inside a savepoint; returns whether to keep its changes and the delivery to make
    /// once the batch's fate is known.
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Deliver>);
    /// Tells the caller the job never ran.
    fn abort(self: Box<Self>, err: StoreError);
}

trait Deliver: Send {
    fn deliver(self: Box<Self>, commit: Result<(), StoreError>);
}

struct Work<F, T, E> {
    f: F,
    reply: oneshot::Sender<Result<T, E>>,
}

struct Reply<T, E> {
    result: Result<T, E>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Work<F, T, E>
where
    F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, Box<dyn Deliver>) {
        let Work { f, reply } = *self;
        let result = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
            Ok(r) => r,
            Err(_) => Err(E::from(StoreError::Internal("a write job panicked".into()))),
        };
        (result.is_ok(), Box::new(Reply { result, reply }))
    }

    fn abort(self: Box<Self>, err: StoreError) {
        let _ = self.reply.send(Err(E::from(err)));
    }
}

impl<T: Send + 'static, E: From<StoreError> + Send + 'static> Deliver for Reply<T, E> {
    fn deliver(self: Box<Self>, commit: Result<(), StoreError>) {
        let result = match (commit, self.result) {
            (Ok(()), r) => r,
            (Err(_), Err(own)) => Err(own),
            (Err(e), Ok(_)) => Err(E::from(e)),
        };
        let _ = self.reply.send(result);
    }
}

/// The write-ahead log's file and the size past which the writer restarts it.
pub(crate) struct WalLimit {
    pub(crate) path: PathBuf,
    pub(crate) bytes: u64,
}

impl WalLimit {
    /// Restarts the log when it has outgrown its limit. A failure (a reader held on past the
    /// busy timeout) is not an error for anyone's write: the next batch tries again.
    fn enforce(&self, conn: &Connection) {
        let size = std::fs::metadata(&self.path).map_or(0, |m| m.len());
        if size > self.bytes
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, wal_bytes = size, "could not restart the write-ahead log");
        }
    }
}

/// How long the checkpointer lets commits gather before copying them back: pages written
/// several times in that while are copied once.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Checkpoints whenever the writer has committed since the last one, until the writer stops.
fn checkpoint_loop(conn: Connection, kicks: std::sync::mpsc::Receiver<()>) {
    while kicks.recv().is_ok() {
        // A failure is nobody's write failing: the next commit wakes this loop again.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "checkpoint did not complete");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
    // The writer has stopped: copy everything back, leaving a short log for the next start.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Handle to the writer thread.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
    /// Jobs in the batch being committed now (0 when idle).
    in_batch: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer on `conn` and the checkpointer on `checkpointer` (a second
    /// read-write connection to the same file).
    pub(crate) fn spawn(
        conn: Connection,
        checkpointer: Connection,
        name: &str,
        wal: WalLimit,
    ) -> Result<Writer, StoreError> {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let in_batch = Arc::new(AtomicU64::new(0));
        let busy = in_batch.clone();
        let (kick, kicks) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name(format!("{name}-checkpoint"))
            .spawn(move || checkpoint_loop(checkpointer, kicks))
            .map_err(|e| {
                StoreError::Internal(format!("cannot start the checkpoint thread: {e}"))
            })?;
        std::thread::Builder::new()
            .name(format!("{name}-writer"))
            .spawn(move || write_loop(conn, jobs, &busy, &kick, &wal))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { queue, in_batch })
    }

    /// Jobs being committed now, and jobs queued for the next batch.
    pub(crate) fn load(&self) -> (u64, u64) {
        (
            self.in_batch.load(Ordering::Relaxed),
            (self.queue.max_capacity() - self.queue.capacity()) as u64,
        )
    }

    /// Runs `f` in the next batch and returns its result once the batch is committed. If `f`
    /// fails, its changes are rolled back and the rest of the batch is unaffected.
    pub(crate) async fn run<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Work { f, reply });
        if self.queue.send(job).await.is_err() {
            return Err(E::from(StoreError::Unavailable(
                "the database writer has stopped".into(),
            )));
        }
        answer.await.unwrap_or_else(|_| {
            Err(E::from(StoreError::Unavailable(
                "the database writer has stopped".into(),
            )))
        })
    }
}

fn write_loop(
    conn: Connection,
    mut jobs: mpsc::Receiver<Box<dyn Job>>,
    busy: &AtomicU64,
    checkpointer: &std::sync::mpsc::SyncSender<()>,
    wal: &WalLimit,
) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        busy.store(batch.len() as u64, Ordering::Relaxed);
        commit_batch(&conn, &mut batch);
        busy.store(0, Ordering::Relaxed);
        // Wakes the checkpointer, or finds it already due to run.
        let _ = checkpointer.try_send(());
        wal.enforce(&conn);
    }
}

/// Runs a transaction-control statement through the statement cache: they run for every job,
/// and parsing them each time was a visible part of a batch.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>) {
    if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
        let err = super::unavailable(e);
        for job in batch.drain(..) {
            job.abort(err.clone());
        }
        return;
    }
    let mut deliveries = Vec::with_capacity(batch.len());
    let mut broken = None;
    for job in batch.drain(..) {
        if let Some(err) = &broken {
            job.abort(StoreError::clone(err));
            continue;
        }
        if let Err(e) = control(conn, "SAVEPOINT job") {
            let err = super::unavailable(e);
            job.abort(err.clone());
            broken = Some(err);
            continue;
        }
        let (keep, delivery) = job.run(conn);
        let end = if keep {
            control(conn, "RELEASE job")
        } else {
            control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            broken = Some(super::unavailable(e));
        }
        deliveries.push(delivery);
    }
    let outcome = match broken {
        Some(err) => Err(err),
        None => control(conn, "COMMIT").map_err(super::unavailable),
    };
    if outcome.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for d in deliveries {
        d.deliver(outcome.clone());
    }
}
