//! Store calls are traced in one place: whichever backend serves a call, it runs in a debug
//! span `store` whose `op` names the call, though no backend writes any tracing code itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bars_store::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

use crate::backends;

/// Records the `op` of every `store` span opened while it is the default subscriber.
#[derive(Clone, Default)]
struct Ops {
    seen: Arc<Mutex<Vec<String>>>,
    next: Arc<AtomicU64>,
}

struct OpField(Option<String>);

impl Visit for OpField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "op" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "op" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_string());
        }
    }
}

impl Subscriber for Ops {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.metadata().name() == "store" {
            let mut op = OpField(None);
            span.record(&mut op);
            self.seen
                .lock()
                .unwrap()
                .push(op.0.unwrap_or_else(|| "<no op>".into()));
        }
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[tokio::test]
async fn every_call_runs_in_a_store_span_named_for_it() {
    for (name, store, _keep) in backends().await {
        let ops = Ops::default();
        let _default = tracing::subscriber::set_default(ops.clone());
        store.ping().await.unwrap();
        store.get_resource("Organization", "none").await.unwrap();
        store.get_slots(&["none".into()]).await.unwrap();
        store.get_appointment("none").await.unwrap();
        store.query_audit(AuditQuery::default()).await.unwrap();
        store.outbox_stats().await.unwrap();
        assert!(matches!(
            store.withdraw_slot("none").await,
            Err(WithdrawError::NotFound)
        ));
        assert_eq!(
            *ops.seen.lock().unwrap(),
            [
                "ping",
                "get_resource",
                "get_slots",
                "get_appointment",
                "query_audit",
                "outbox_stats",
                "withdraw_slot"
            ],
            "{name}"
        );
        assert_eq!(store.is_embedded(), name == "sqlite", "{name}");
        assert!(!store.pool_status().is_empty(), "{name}");
    }
}
