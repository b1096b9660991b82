//! The web workbench: a sender's view of BaRS in a browser. A person walks the whole flow
//! (directory, a week of slots, booking, the patient's appointments from the Registry, an
//! appointment's versions, update, reschedule, cancel, rebook) and, beside each page, sees
//! every exchange its action caused: the token request, each request and response, decoded.
//! The clinic's side ([`clinic`]) shows the same appointments as the service runs them, from
//! each receiver's admin API, so one action shows both parties reacting.
//!
//! Server-rendered HTML that works without JavaScript; a small vendored script adds the NHS
//! number check as it is typed and "copy as curl". Nothing is fetched from the network but the
//! proxy it is pointed at.

pub mod access;
mod app;
mod assets;
mod choice;
pub mod clinic;
mod diff;
mod inspect;
mod journal;
mod links;
mod nhs;
mod pages;
mod sender;
mod uk_time;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use access::{AccessError, AccessSecret};
pub use clinic::access::{ClinicAccess, ClinicFlagError};
pub use sender::Sender;

/// A workbench serving on a listener until stopped.
pub struct RunningWorkbench {
    pub url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningWorkbench {
    /// Binds `addr` (loopback unless an access secret is given, see [`access::check_bind`]) and
    /// serves the workbench there; `clinic` says where the clinic's side is read from.
    pub async fn start(
        addr: SocketAddr,
        secret: Option<AccessSecret>,
        sender: Sender,
        clinic: ClinicAccess,
    ) -> Result<RunningWorkbench, StartError> {
        access::check_bind(addr, secret.as_ref())?;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| StartError::Bind(addr, e.to_string()))?;
        let local = listener
            .local_addr()
            .map_err(|e| StartError::Bind(addr, e.to_string()))?;
        let router = app::router(Arc::new(app::App::new(sender, clinic)), secret);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the workbench stopped serving");
            }
        });
        Ok(RunningWorkbench {
            url: format!("http://{local}"),
            stop,
            task,
        })
    }

    /// Stops accepting connections and lets the pages being answered finish.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Access(#[from] AccessError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, String),
}
