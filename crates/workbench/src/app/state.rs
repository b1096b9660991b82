//! The workbench's state: the SDK client (recording every exchange into the journal) and who
//! it acts as.

use std::sync::Arc;

use axum::extract::State;
use bars_client::{BarsClient, BarsVersion, Recorder, TokenSource};

use crate::clinic::access::ClinicAccess;
use crate::clinic::admin::AdminClient;
use crate::journal::{Journal, ToCurrentAction};
use crate::pages::SenderSummary;
use crate::sender::Sender;

pub struct App {
    pub client: BarsClient,
    pub journal: Journal,
    pub sender: SenderSummary,
    /// Where the clinic's side is read from (empty: not configured).
    pub clinic: ClinicAccess,
    pub admin: AdminClient,
}

impl App {
    pub fn new(sender: Sender, clinic: ClinicAccess) -> App {
        let recorder: Arc<dyn Recorder> = Arc::new(ToCurrentAction);
        let summary = SenderSummary {
            organisation: sender.identity.organisation_name.clone(),
            ods_code: sender.identity.ods_code.clone(),
            client_id: sender.credentials.client_id.clone(),
            proxy_url: sender.proxy_url.clone(),
        };
        let tokens = TokenSource::recorded(
            sender.credentials,
            sender.http.clone(),
            Some(recorder.clone()),
        );
        let admin = AdminClient {
            http: sender.http.clone(),
        };
        // The workbench's pages (an update form that edits the description and comment, a
        // rebook that names the appointment it replaces) follow the Core 1.1.6 workflow; its
        // 1.5.0 forms are still to come, so it says which version it speaks rather than take
        // the SDK's default.
        let client = BarsClient::new(sender.http, &sender.proxy_url, tokens, sender.identity)
            .with_version(BarsVersion::V1_1_6)
            .with_recorder(recorder);
        App {
            client,
            journal: Journal::default(),
            sender: summary,
            clinic,
            admin,
        }
    }
}

pub type Shared = State<Arc<App>>;
