//! What `/_status` checks on a receiver: the database answers with a current schema, and the
//! Registry is not falling behind.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bars_http::health::{Check, Health, Readiness};
use bars_store::Store;

use crate::state::AppState;

/// Undelivered pointer jobs older than this make the receiver `warn`: bookings still work, but
/// the national view of the patient's appointments is behind.
pub const OUTBOX_LAG_WARNING: Duration = Duration::from_secs(300);

pub struct ReceiverReadiness {
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl Readiness for ReceiverReadiness {
    async fn checks(&self) -> Vec<Check> {
        // `ping` fails both when the database cannot be reached and when its schema is not
        // the one this build expects (migrations not applied).
        let database = Check::timed("database", self.store.ping()).await;
        let mut checks = vec![database];
        match self.store.outbox_stats().await {
            Ok(stats) => {
                let age = stats.oldest_undelivered.map_or(0.0, |oldest| {
                    (bars_fhir::Instant::now().unix_nanos() - oldest.unix_nanos()).max(0) as f64
                        / 1e9
                });
                let lagging = age > OUTBOX_LAG_WARNING.as_secs_f64();
                let mut lag = Check::new(
                    "outbox:lag",
                    if lagging { Health::Warn } else { Health::Pass },
                )
                .observed((age * 1000.0).round() / 1000.0, Some("s"));
                if lagging {
                    lag = lag.output("Registry pointers are waiting longer than expected");
                }
                checks.push(lag);
                let mut pending = Check::new(
                    "outbox:pending",
                    if stats.failed > 0 {
                        Health::Warn
                    } else {
                        Health::Pass
                    },
                )
                .observed(stats.pending, None);
                if stats.failed > 0 {
                    pending = pending.output(format!(
                        "{} pointer job(s) refused by the Registry need an operator (bars outbox)",
                        stats.failed
                    ));
                }
                checks.push(pending);
            }
            Err(e) => checks.push(Check::new("outbox:lag", Health::Fail).output(e.to_string())),
        }
        checks
    }
}

/// `/_ping` and `/_status`, for the API and admin listeners alike.
pub fn routes<S: Clone + Send + Sync + 'static>(state: &AppState) -> axum::Router<S> {
    bars_http::health::routes(
        "bars-receiver",
        Arc::new(ReceiverReadiness {
            store: state.store.clone(),
        }),
    )
}
