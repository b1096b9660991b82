//! Group commit: one thread owns the only write connection and commits many requests' changes
//! together.
//!
//! Requests queue their write jobs on a channel. The writer takes whatever has queued while it
//! was busy, opens one `BEGIN IMMEDIATE`, runs the jobs, and commits once: one fsync
//! acknowledges the whole batch. A failing job is rolled back alone: when one fails, the batch
//! runs again with each job in its own `SAVEPOINT` (see [`commit_batch`]). Each caller
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
    /// Runs the job on the batch's transaction and keeps its result; whether it succeeded. A
    /// job may be run again after its batch was rolled back (see [`commit_batch`]): the last
    /// run's result is the one delivered.
    fn attempt(&mut self, conn: &Connection) -> bool;
    /// Tells the caller its result, once the batch's fate is known.
    fn deliver(self: Box<Self>, commit: Result<(), StoreError>);
    /// Tells the caller the job never ran.
    fn abort(self: Box<Self>, err: StoreError);
}

struct Work<F, T, E> {
    f: F,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Job for Work<F, T, E>
where
    F: FnMut(&Connection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    fn attempt(&mut self, conn: &Connection) -> bool {
        let f = &mut self.f;
        let result = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
            Ok(r) => r,
            Err(_) => Err(E::from(StoreError::Internal("a write job panicked".into()))),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn deliver(self: Box<Self>, commit: Result<(), StoreError>) {
        let Work { f, result, reply } = *self;
        // What the job holds is let go before its caller hears: a change's mark in the
        // appointment cache ends once the batch's fate is known, and before anyone is told.
        drop(f);
        let own = result.unwrap_or_else(|| {
            Err(E::from(StoreError::Internal(
                "a write job never ran".into(),
            )))
        });
        let result = match (commit, own) {
            (Ok(()), r) => r,
            (Err(_), Err(own)) => Err(own),
            (Err(e), Ok(_)) => Err(E::from(e)),
        };
        let _ = reply.send(result);
    }

    fn abort(self: Box<Self>, err: StoreError) {
        let Work { f, reply, .. } = *self;
        drop(f);
        let _ = reply.send(Err(E::from(err)));
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
    /// fails, its changes are rolled back and the rest of the batch is unaffected; `f` may run
    /// twice (see [`commit_batch`]).
    pub(crate) async fn run<F, T, E>(&self, f: F) -> Result<T, E>
    where
        F: FnMut(&Connection) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Work {
            f,
            result: None,
            reply,
        });
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
    // After a batch in which a job failed, the next one runs each job in its savepoint at once:
    // failures come in runs (many senders racing for the same slots).
    let mut careful = false;
    while let Some(first) = jobs.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        busy.store(batch.len() as u64, Ordering::Relaxed);
        careful = commit_batch(&conn, &mut batch, careful);
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

/// Runs and commits one batch; whether a job in it failed.
///
/// First without savepoints, unless `careful`: a savepoint makes SQLite copy every page a job
/// touches into the savepoint's journal before changing it, which profiled at a sixth of the
/// writer's CPU under bookings, and almost every job succeeds. If one fails, its partial
/// changes cannot be undone alone: the transaction is rolled back and the batch runs again with
/// a savepoint per job, so that the failing job is rolled back alone and the others commit (a
/// job's work depends only on the database, which the rollback restored). A batch of one job
/// needs no second run: rolling the transaction back undoes exactly that job.
fn commit_batch(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, careful: bool) -> bool {
    if !begin(conn, batch) {
        return false;
    }
    if !careful {
        if batch.iter_mut().all(|job| job.attempt(conn)) {
            let outcome = control(conn, "COMMIT").map_err(super::unavailable);
            finish(conn, batch, outcome);
            return false;
        }
        if let Err(e) = control(conn, "ROLLBACK") {
            abort_all(batch, super::unavailable(e));
            return true;
        }
        if batch.len() == 1 {
            // The job's own failure, with nothing of it left behind.
            finish(conn, batch, Ok(()));
            return true;
        }
        if !begin(conn, batch) {
            return true;
        }
    }
    let mut failed = false;
    let mut broken = None;
    let mut ran = 0;
    for job in batch.iter_mut() {
        if let Err(e) = control(conn, "SAVEPOINT job") {
            broken = Some(super::unavailable(e));
            break;
        }
        let keep = job.attempt(conn);
        ran += 1;
        failed |= !keep;
        let end = if keep {
            control(conn, "RELEASE job")
        } else {
            control(conn, "ROLLBACK TO job").and_then(|()| control(conn, "RELEASE job"))
        };
        if let Err(e) = end {
            broken = Some(super::unavailable(e));
            break;
        }
    }
    let outcome = match broken {
        Some(err) => {
            // The jobs after the break never ran; those before hear of the failed batch.
            for job in batch.drain(ran..) {
                job.abort(err.clone());
            }
            Err(err)
        }
        None => control(conn, "COMMIT").map_err(super::unavailable),
    };
    finish(conn, batch, outcome);
    failed
}

/// Delivers the batch's results once its fate is known, rolling back a transaction that could
/// not commit.
fn finish(conn: &Connection, batch: &mut Vec<Box<dyn Job>>, outcome: Result<(), StoreError>) {
    if outcome.is_err() {
        let _ = control(conn, "ROLLBACK");
    }
    for job in batch.drain(..) {
        job.deliver(outcome.clone());
    }
}

/// Opens the batch's transaction; when it cannot be opened, every job hears why.
fn begin(conn: &Connection, batch: &mut Vec<Box<dyn Job>>) -> bool {
    match control(conn, "BEGIN IMMEDIATE") {
        Ok(()) => true,
        Err(e) => {
            abort_all(batch, super::unavailable(e));
            false
        }
    }
}

fn abort_all(batch: &mut Vec<Box<dyn Job>>, err: StoreError) {
    for job in batch.drain(..) {
        job.abort(err.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc as std_mpsc;

    use super::*;

    fn writer_on(dir: &std::path::Path) -> (Writer, Connection) {
        let path = dir.join("batch.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE note (k INTEGER PRIMARY KEY);",
        )
        .unwrap();
        let wal = WalLimit {
            path: dir.join("batch.db-wal"),
            bytes: u64::MAX,
        };
        let writer = Writer::spawn(conn, Connection::open(&path).unwrap(), "test", wal).unwrap();
        (writer, Connection::open(&path).unwrap())
    }

    fn insert(c: &Connection, k: i64) -> Result<(), StoreError> {
        c.execute("INSERT INTO note (k) VALUES (?1)", [k])
            .map(|_| ())
            .map_err(|e| StoreError::Internal(e.to_string()))
    }

    fn notes(c: &Connection) -> Vec<i64> {
        let mut s = c.prepare("SELECT k FROM note ORDER BY k").unwrap();
        s.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// Three jobs in one batch, the middle one failing after it wrote: the other two commit,
    /// nothing of the failing one remains, and each caller hears its own result. Run twice: the
    /// second time the batch before it (the job holding the writer) fails, so the three run with
    /// a savepoint per job from the start.
    #[tokio::test(flavor = "current_thread")]
    async fn a_job_that_fails_after_writing_is_undone_alone_and_its_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, outside) = writer_on(dir.path());
        for round in 0..2_i64 {
            // Hold the writer in a batch of its own, so that the next three queue together.
            let (release, held) = std_mpsc::channel::<()>();
            let (holding, running) = std_mpsc::channel::<()>();
            let hold_fails = round == 1;
            let hold = tokio::spawn({
                let writer = writer.clone();
                async move {
                    writer
                        .run(move |c| {
                            let _ = holding.send(());
                            let _ = held.recv();
                            if hold_fails {
                                insert(c, 99)?;
                                return Err(StoreError::Internal("the holder refused".into()));
                            }
                            Ok(())
                        })
                        .await
                }
            });
            while running.try_recv().is_err() {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let base = round * 10;
            let spawn_job = |k: i64, fails: bool| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .run(move |c| {
                            insert(c, k)?;
                            if fails {
                                return Err(StoreError::Internal(format!("job {k} refused")));
                            }
                            Ok(k)
                        })
                        .await
                })
            };
            let first = spawn_job(base + 1, false);
            let failing = spawn_job(base + 2, true);
            let last = spawn_job(base + 3, false);
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert_eq!(writer.load().1, 3, "the three jobs are queued together");
            release.send(()).unwrap();
            assert_eq!(hold.await.unwrap().is_err(), hold_fails);
            assert_eq!(first.await.unwrap().unwrap(), base + 1);
            let refused = failing.await.unwrap();
            assert!(
                matches!(&refused, Err(StoreError::Internal(why)) if why == &format!("job {} refused", base + 2)),
                "{refused:?}"
            );
            assert_eq!(last.await.unwrap().unwrap(), base + 3);
        }
        assert_eq!(notes(&outside), vec![1, 3, 11, 13]);
    }

    /// A job alone that fails leaves nothing behind and its caller hears its own error.
    #[tokio::test(flavor = "current_thread")]
    async fn a_job_alone_that_fails_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, outside) = writer_on(dir.path());
        let refused = writer
            .run(|c| {
                insert(c, 1)?;
                Err::<(), _>(StoreError::Internal("refused".into()))
            })
            .await;
        assert!(matches!(&refused, Err(StoreError::Internal(why)) if why == "refused"));
        writer.run(|c| insert(c, 2)).await.unwrap();
        assert_eq!(notes(&outside), vec![2]);
    }

    /// Sets its flag when dropped, slowly: a caller told before the drop finished would see it
    /// unset.
    struct SlowToDrop(Arc<std::sync::atomic::AtomicBool>);

    impl Drop for SlowToDrop {
        fn drop(&mut self) {
            std::thread::sleep(std::time::Duration::from_millis(50));
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// What a job captured is dropped before its caller hears, whether the job committed or
    /// failed: the appointment cache's mark of a change rides in a job and must end first.
    #[tokio::test(flavor = "current_thread")]
    async fn a_jobs_captures_are_dropped_before_its_caller_hears() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, _outside) = writer_on(dir.path());
        for fails in [false, true] {
            let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let held = SlowToDrop(dropped.clone());
            let result = writer
                .run(move |c| {
                    let _held = &held;
                    insert(c, i64::from(fails))?;
                    if fails {
                        return Err(StoreError::Internal("refused".into()));
                    }
                    Ok(())
                })
                .await;
            assert_eq!(result.is_err(), fails);
            assert!(
                dropped.load(std::sync::atomic::Ordering::SeqCst),
                "the caller heard before the job's captures were dropped (fails: {fails})"
            );
        }
    }
}
