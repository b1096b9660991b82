//! What each page action caused: the SDK's recorder hook hands over every exchange, and the
//! action running in the current task collects it, already made safe to show ([`crate::inspect`]
//! redacts secrets before anything is kept). The last few actions are kept for the inspector.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bars_client::{Exchange, Recorder};

use crate::inspect::{self, Shown};

/// Actions kept for the inspector's history.
const KEPT: usize = 100;

/// One page action and the exchanges it caused, in the order they happened.
#[derive(Debug, Clone)]
pub struct Action {
    pub id: u64,
    pub title: String,
    pub at: SystemTime,
    /// How long the whole action took, exchanges and waits between them (retries back off).
    pub millis: f64,
    pub exchanges: Vec<Shown>,
}

tokio::task_local! {
    static CURRENT: Arc<Mutex<Vec<Shown>>>;
}

/// The recorder given to the SDK: it files each exchange under the action of the task that
/// made it (exchanges outside any action are not kept).
pub struct ToCurrentAction;

impl Recorder for ToCurrentAction {
    fn record(&self, exchange: Exchange) {
        let shown = inspect::show(&exchange);
        let _ = CURRENT.try_with(|log| {
            if let Ok(mut log) = log.lock() {
                log.push(shown);
            }
        });
    }
}

#[derive(Default)]
pub struct Journal {
    next: AtomicU64,
    actions: Mutex<VecDeque<Arc<Action>>>,
}

impl Journal {
    /// Runs `work` as the action `title`, keeping the exchanges it causes.
    pub async fn run<T>(&self, title: &str, work: impl Future<Output = T>) -> (Arc<Action>, T) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let at = SystemTime::now();
        let clock = std::time::Instant::now();
        let out = CURRENT.scope(log.clone(), work).await;
        let millis = clock.elapsed().as_secs_f64() * 1000.0;
        let exchanges = log.lock().map(|l| l.clone()).unwrap_or_default();
        let action = Arc::new(Action {
            id: self.next.fetch_add(1, Ordering::Relaxed) + 1,
            title: title.to_string(),
            at,
            millis,
            exchanges,
        });
        if let Ok(mut actions) = self.actions.lock() {
            actions.push_back(action.clone());
            while actions.len() > KEPT {
                actions.pop_front();
            }
        }
        (action, out)
    }

    pub fn get(&self, id: u64) -> Option<Arc<Action>> {
        let actions = self.actions.lock().ok()?;
        actions.iter().find(|a| a.id == id).cloned()
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<Arc<Action>> {
        self.actions
            .lock()
            .map(|a| a.iter().rev().cloned().collect())
            .unwrap_or_default()
    }
}
