//! The stack a sender under test is pointed at: the whole local system `bars demo` runs
//! (proxy, registry, receivers, dev PKI, a registered sender), started through the same
//! `bars_stack` start-up, with the recorder in front of the proxy and the toolkit's sentinels
//! in front of the receivers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bars_stack::{
    LocalStack, PointerBackoff, ReceiverSpec, SenderSpec, StackLayers, StackSlotPlan, StackSpec,
};
use serde_json::{Value, json};

use super::record::Recorder;
use super::sentinel::{SENTINELS, TOOLKIT_SERVICES};

/// The ordinary services, as `bars demo` has them.
pub const SERVICES: &[(&str, &str)] = &[
    ("2000011111", "Riverside Urgent Treatment Centre"),
    ("2000011112", "Riverside Minor Injuries Unit"),
];
/// Test patients whose bookings succeed (valid NHS numbers, not real people; the first is the
/// toolkit's success patient).
pub const PATIENTS: &[&str] = &["9658499007", "9434765919", "4409815415"];

/// Where and how the stack runs.
#[derive(Debug, Clone)]
pub struct SenderStackSpec {
    /// Where the PKI, databases and `stack.json` live.
    pub dir: PathBuf,
    /// The first of the consecutive ports; `None` for free random ports.
    pub base_port: Option<u16>,
    /// The sender application registered at the proxy.
    pub sender: SenderSpec,
    /// Days of slots published from `first_day`.
    pub first_day: jiff::civil::Date,
    pub days: u32,
}

impl SenderStackSpec {
    pub fn new(dir: PathBuf, first_day: jiff::civil::Date) -> SenderStackSpec {
        SenderStackSpec {
            dir,
            base_port: None,
            sender: SenderSpec {
                client_id: "sender-under-test".into(),
                ods: "A1001".into(),
                name: "Sender under test".into(),
            },
            first_day,
            days: 2,
        }
    }
}

/// The running stack and what it recorded.
pub struct SenderStack {
    pub stack: LocalStack,
    pub recorder: Arc<Recorder>,
}

fn receivers() -> Vec<ReceiverSpec> {
    vec![
        ReceiverSpec {
            ods: "RXR01".into(),
            name: "Riverside Community Health NHS Trust".into(),
            services: SERVICES
                .iter()
                .map(|(id, n)| (id.to_string(), n.to_string()))
                .collect(),
        },
        ReceiverSpec {
            ods: "TKW01".into(),
            name: "Toolkit sentinel services".into(),
            services: TOOLKIT_SERVICES
                .iter()
                .map(|(id, n, _)| (id.to_string(), n.to_string()))
                .collect(),
        },
    ]
}

impl SenderStack {
    pub async fn start(spec: SenderStackSpec) -> anyhow::Result<SenderStack> {
        // The receivers' own applications are known only once the stack has made them; the
        // recorder learns their tokens as they are issued and attributes them then.
        let client_ids = receivers()
            .iter()
            .map(|r| format!("receiver-{}", r.ods.to_ascii_lowercase()))
            .collect::<Vec<_>>();
        let recorder = Recorder::new(client_ids.clone());
        let layers = StackLayers {
            proxy: Some(recorder.layer()),
            receivers: Some(super::sentinel::layer()),
        };
        let stack = LocalStack::start_with(
            StackSpec {
                dir: spec.dir.clone(),
                base_port: spec.base_port,
                receivers: receivers(),
                sender: spec.sender.clone(),
                pointer_backoff: PointerBackoff {
                    initial: Duration::from_millis(200),
                    max: Duration::from_secs(5),
                },
                receiver_timeout: Duration::from_secs(32),
                receiver_database: None,
            },
            layers,
        )
        .await?;
        let actual: Vec<&str> = stack
            .receivers
            .iter()
            .map(|r| r.client_id.as_str())
            .collect();
        if actual != client_ids.iter().map(String::as_str).collect::<Vec<_>>() {
            anyhow::bail!("the stack registered its receivers as {actual:?}, not {client_ids:?}");
        }
        let silent: Vec<&str> = TOOLKIT_SERVICES
            .iter()
            .filter(|(_, _, slots)| !slots)
            .map(|(id, _, _)| *id)
            .collect();
        let first = spec.first_day;
        let days = spec.days.max(1);
        stack
            .publish(|service| StackSlotPlan {
                service_id: service.to_string(),
                schedule_id: None,
                from: first,
                // A service without slots gets a plan of no days (publishing nothing).
                days: if silent.contains(&service) { 0 } else { days },
                every_minutes: 15,
                length_minutes: None,
                day_start: jiff::civil::time(8, 0, 0, 0),
                day_end: jiff::civil::time(18, 0, 0, 0),
                weekdays_only: false,
                zone: jiff::tz::TimeZone::UTC,
            })
            .await?;
        Ok(SenderStack { stack, recorder })
    }

    /// What a sender needs to be pointed at the stack (`stack.json`), with the sentinels.
    pub fn manifest(&self) -> Value {
        let mut m = self.stack.manifest(PATIENTS);
        m["sentinels"] = json!(SENTINELS);
        m
    }

    pub async fn stop(self) {
        self.stack.stop().await;
    }
}
