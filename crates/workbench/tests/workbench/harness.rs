//! A LocalStack with a week of slots and a workbench acting as its registered sender.

use std::time::Duration;

use bars_http::client::{ClientResponse, HttpClient};
use bars_receiver::availability::{SlotPlan, uk_time_zone};
use bars_receiver::pointers::worker::Backoff;
use bars_stack::{LocalStack, ReceiverSpec, SenderSpec, StackSpec};
use bars_workbench::{AccessSecret, ClinicAccess, RunningWorkbench, Sender};
use jiff::civil::Date;

pub const PATIENT: &str = "9434765919";
pub const OTHER_PATIENT: &str = "4409815415";
pub const SERVICE: &str = "2000011111";
pub const SERVICE_NAME: &str = "Riverside Urgent Treatment Centre";

pub struct Bench {
    pub stack: LocalStack,
    pub workbench: RunningWorkbench,
    pub http: HttpClient,
    _dir: tempfile::TempDir,
}

/// Tomorrow in the UK: every slot published from then is in the future and in this week's view.
pub fn tomorrow() -> Date {
    let today = jiff::Timestamp::now().to_zoned(uk_time_zone()).date();
    today.tomorrow().unwrap()
}

pub fn sender(stack: &LocalStack) -> Sender {
    Sender {
        http: stack.http(Duration::from_secs(30)).unwrap(),
        proxy_url: stack.proxy_url.clone(),
        credentials: stack.sender.credentials().unwrap(),
        identity: stack.sender.identity(),
    }
}

impl Bench {
    pub async fn start() -> Bench {
        Bench::start_with(None).await
    }

    pub async fn start_with(secret: Option<AccessSecret>) -> Bench {
        Bench::start_full(secret, |stack| {
            ClinicAccess::from_manifest(&stack.manifest(&[]))
        })
        .await
    }

    /// With the clinic's side read as `clinic` says (from the stack's manifest, or not at all).
    pub async fn start_full(
        secret: Option<AccessSecret>,
        clinic: impl FnOnce(&LocalStack) -> ClinicAccess,
    ) -> Bench {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let stack = LocalStack::start(StackSpec {
            dir: dir.path().to_path_buf(),
            base_port: None,
            receivers: vec![ReceiverSpec {
                ods: "RXR01".into(),
                name: "Riverside Community Health NHS Trust".into(),
                services: vec![
                    (SERVICE.into(), SERVICE_NAME.into()),
                    ("2000011112".into(), "Riverside Minor Injuries Unit".into()),
                ],
            }],
            sender: SenderSpec {
                client_id: "demo-sender".into(),
                ods: "A1001".into(),
                name: "Hillside Medical Practice".into(),
            },
            pointer_backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(1),
            },
            receiver_timeout: Duration::from_secs(10),
            receiver_database: None,
        })
        .await
        .unwrap();
        let from = tomorrow();
        stack
            .publish(|service| SlotPlan {
                service_id: service.to_string(),
                schedule_id: None,
                from,
                days: 5,
                every_minutes: 30,
                length_minutes: None,
                day_start: jiff::civil::time(9, 0, 0, 0),
                day_end: jiff::civil::time(11, 0, 0, 0),
                weekdays_only: false,
                zone: uk_time_zone(),
            })
            .await
            .unwrap();
        let workbench = RunningWorkbench::start(
            "127.0.0.1:0".parse().unwrap(),
            secret,
            sender(&stack),
            clinic(&stack),
        )
        .await
        .unwrap();
        Bench {
            stack,
            workbench,
            http: HttpClient::plain(Duration::from_secs(30)),
            _dir: dir,
        }
    }

    pub async fn get(&self, path: &str) -> ClientResponse {
        self.http
            .call(
                http::Method::GET,
                &format!("{}{path}", self.workbench.url),
                &[],
                None,
            )
            .await
            .unwrap()
    }

    pub async fn post(&self, path: &str, form: &str, headers: &[(&str, String)]) -> ClientResponse {
        let mut all = vec![(
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        )];
        all.extend(headers.iter().cloned());
        self.http
            .call(
                http::Method::POST,
                &format!("{}{path}", self.workbench.url),
                &all,
                Some(bytes::Bytes::from(form.to_string())),
            )
            .await
            .unwrap()
    }

    pub async fn stop(self) {
        self.workbench.stop().await;
        self.stack.stop().await;
    }
}

pub fn text(r: &ClientResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}
