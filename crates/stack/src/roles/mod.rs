//! Each role's start-up, from its settings to running servers and workers: what
//! `bars receiver|proxy|registry` runs, and what [`LocalStack`](crate::LocalStack) runs for each
//! of its roles, so the demo and the cross-role tests start exactly what production starts.
//!
//! A role's settings come in as a typed value, already read and checked: the `bars` command
//! builds it from flags, environment and file, the stack from its spec. What a role does with
//! it (which database it opens, which workers it starts, how its listeners serve and refuse) is
//! decided here only.

pub mod proxy;
pub mod receiver;
pub mod registry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bars_http::server::{Refuse, RunningServer, ServerOptions};
use tokio::net::TcpListener;

/// A listener's TLS: the server configuration, and whether a request without a client
/// certificate is refused (by the role's transport rules, with the role's own code).
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    pub require_client_certificate: bool,
}

/// Where and how a role serves: its sender-facing (API) and operators' (admin) listeners, bound
/// before the role starts so that every address is known first, and what they apply to each
/// connection.
pub struct Listeners {
    pub api: TcpListener,
    pub admin: TcpListener,
    /// The API listener's TLS; `None` serves plain HTTP.
    pub tls: Option<ServerTls>,
    /// The admin listener's TLS: the role's own certificate, no client certificates (operators
    /// authenticate with the token); `None` serves plain HTTP.
    pub admin_tls: Option<Arc<rustls::ServerConfig>>,
    /// The bearer token the admin listener asks for; `None` lets every request through (only
    /// allowed on loopback).
    pub admin_token: Option<String>,
    /// What both listeners apply to every connection (the connection cap, the head deadline);
    /// the role adds its TLS, its refusal codes and its drain time.
    pub options: ServerOptions,
}

/// What a role's listeners do their own way.
struct Conduct {
    /// How a request refused before any route runs is coded.
    refuse: Refuse,
    /// How long the admin listener lets requests finish when the role stops.
    admin_drain: Option<Duration>,
}

impl Listeners {
    /// Whether the API's transport rules must refuse requests without a client certificate.
    fn require_client_certificate(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| t.require_client_certificate)
    }

    /// Serves `api` on the API listener and the role's admin router (given the admin token) on
    /// the admin listener.
    fn serve(
        self,
        conduct: Conduct,
        api: Router,
        admin: impl FnOnce(Option<String>) -> Router,
    ) -> Servers {
        let base = ServerOptions {
            refuse: conduct.refuse,
            ..self.options
        };
        let admin_options = ServerOptions {
            tls: self.admin_tls,
            drain_timeout: conduct.admin_drain.unwrap_or(base.drain_timeout),
            ..base.clone()
        };
        let api_options = ServerOptions {
            tls: self.tls.map(|t| t.config),
            ..base
        };
        Servers {
            api: RunningServer::start_on(self.api, api, api_options),
            admin: RunningServer::start_on(self.admin, admin(self.admin_token), admin_options),
        }
    }
}

/// A started role: the role itself (its state, for whoever started it) and its listeners.
pub struct Running<R> {
    pub role: R,
    pub servers: Servers,
}

/// What a role does once its listeners have stopped, before it is dropped.
pub trait Finish {
    fn finish(self) -> impl Future<Output = ()> + Send;
}

impl<R: Finish> Running<R> {
    /// Stops it: the listeners stop accepting and let in-flight requests finish, then the role
    /// finishes its own work.
    pub async fn stop(self) {
        self.servers.stop().await;
        self.role.finish().await;
    }
}

/// A role's two running listeners.
pub struct Servers {
    pub api: RunningServer,
    pub admin: RunningServer,
}

impl Servers {
    /// Stops accepting on both and lets in-flight requests finish.
    pub async fn stop(self) {
        self.api.shutdown().await;
        self.admin.shutdown().await;
    }
}
