//! The audit trail of every request that reads or changes a booking.
//!
//! Changes are audited inside their own transaction (see the booking service, which makes
//! every entry). Reads and refusals change nothing, so their entries go through this sink: a background task that
//! appends them in batches, keeping the read path free of a write per request. Callers wait
//! when the sink is full rather than lose entries.

use std::sync::Arc;
use std::time::Duration;

use bars_store::{AuditEntry, Store};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const QUEUE: usize = 16_384;
const BATCH: usize = 2_000;
/// How long the flusher lets entries gather after the first arrives. Every commit empties the
/// page caches of the store's readers and costs an fsync; flushing each read's entry at once
/// made reads commit thousands of times a second. Entries wait in memory either way (this
/// sink was never part of a read's response); shutdown still writes everything queued.
const LINGER: Duration = Duration::from_millis(20);

#[derive(Clone)]
pub struct AuditSink {
    queue: mpsc::Sender<AuditEntry>,
}

impl AuditSink {
    /// Starts the flusher; it ends (after writing everything queued) once every sink is dropped.
    pub fn start(store: Arc<dyn Store>) -> (AuditSink, JoinHandle<()>) {
        let (queue, entries) = mpsc::channel(QUEUE);
        (AuditSink { queue }, tokio::spawn(flush(store, entries)))
    }

    pub async fn record(&self, entry: AuditEntry) {
        if self.queue.send(entry).await.is_err() {
            tracing::error!("the audit sink has stopped; an audit entry was not written");
        }
    }
}

async fn flush(store: Arc<dyn Store>, mut entries: mpsc::Receiver<AuditEntry>) {
    let mut batch = Vec::with_capacity(BATCH);
    while entries.recv_many(&mut batch, BATCH).await > 0 {
        if batch.len() < BATCH {
            tokio::time::sleep(LINGER).await;
            while batch.len() < BATCH {
                match entries.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(_) => break,
                }
            }
        }
        let mut delay = Duration::from_millis(100);
        loop {
            match store.append_audit(batch.clone()).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(error = %e, pending = batch.len(), "audit entries not yet written; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        batch.clear();
    }
}
