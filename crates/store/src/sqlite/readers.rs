//! A small pool of read-only connections. WAL mode lets them read a consistent snapshot while
//! the writer commits. A scan runs on the blocking thread pool so a slow query never stalls the
//! async workers; a lookup by key runs on the caller's thread ([`Readers::point`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::StoreError;

pub(crate) struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Semaphore,
    size: usize,
    waiting: AtomicU64,
}

impl Readers {
    pub(crate) fn new(conns: Vec<Connection>) -> Readers {
        let permits = Semaphore::new(conns.len());
        Readers {
            size: conns.len(),
            idle: Arc::new(Mutex::new(conns)),
            permits,
            waiting: AtomicU64::new(0),
        }
    }

    /// `(size, in_use, waiting)`.
    pub(crate) fn load(&self) -> (u64, u64, u64) {
        let size = self.size as u64;
        (
            size,
            size.saturating_sub(self.permits.available_permits() as u64),
            self.waiting.load(Ordering::Relaxed),
        )
    }

    /// Runs a point lookup (one row by its key, answered from SQLite's page cache in
    /// microseconds) on the calling task's thread, instead of handing it to the blocking pool:
    /// the two thread hops cost more than the lookup itself, and reads by id are most of what a
    /// receiver serves. When every connection is busy it waits for one without leaving its
    /// thread. It once went to the pool instead, holding a connection across both hops, so
    /// that under load one busy moment turned every later lookup into a pool read: a profile
    /// of 64 clients' one-day slot searches found all three of a search's lookups on the pool.
    /// Only for lookups bounded to one row or a few: a scan would stall the async worker that
    /// runs it.
    pub(crate) async fn point<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.turn().await?;
        run_on(&self.idle, self.take()?, f)
    }

    /// Runs `f` on the blocking pool, for reads that may take long.
    pub(crate) async fn run<F, T>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.turn().await?;
        let conn = self.take()?;
        let idle = self.idle.clone();
        tokio::task::spawn_blocking(move || run_on(&idle, conn, f))
            .await
            .map_err(|e| StoreError::Internal(format!("read task failed: {e}")))?
    }

    /// A connection's turn: at once when one is free, else after waiting (counted as waiting).
    async fn turn(&self) -> Result<SemaphorePermit<'_>, StoreError> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        permit.map_err(|_| StoreError::Unavailable("the store is closed".into()))
    }

    /// An idle connection, for the holder of a turn.
    fn take(&self) -> Result<Connection, StoreError> {
        self.idle
            .lock()
            .map_err(|_| StoreError::Internal("reader pool poisoned".into()))?
            .pop()
            .ok_or_else(|| StoreError::Internal("no idle reader despite a permit".into()))
    }
}

/// Runs `f` on `conn`, then puts the connection back among the idle; a panic in `f` is
/// answered as an error and the connection still goes back.
fn run_on<T>(
    idle: &Mutex<Vec<Connection>>,
    conn: Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let result = catch_unwind(AssertUnwindSafe(|| f(&conn)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a read panicked".into())));
    if let Ok(mut pool) = idle.lock() {
        pool.push(conn);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With every connection busy, a point lookup waits for one and then runs on the caller's
    /// thread; it does not go to the blocking pool (which is what cascaded under load).
    #[tokio::test(flavor = "current_thread")]
    async fn a_point_lookup_waits_on_its_own_thread_when_every_connection_is_busy() {
        let readers = Arc::new(Readers::new(vec![Connection::open_in_memory().unwrap()]));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, busy_now) = tokio::sync::oneshot::channel::<()>();
        let busy = {
            let readers = readers.clone();
            tokio::spawn(async move {
                readers
                    .run(move |_| {
                        let _ = started.send(());
                        let _ = hold.recv();
                        Ok(())
                    })
                    .await
            })
        };
        busy_now.await.unwrap();
        let caller = std::thread::current().id();
        let point = {
            let readers = readers.clone();
            tokio::spawn(async move { readers.point(|_| Ok(std::thread::current().id())).await })
        };
        while readers.load().2 == 0 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        assert_eq!(point.await.unwrap().unwrap(), caller);
    }
}
