//! The long-running roles: each role's settings (its flags and its file, one struct), and how
//! they become the settings value its start-up takes. The start-up itself
//! (`bars_stack::roles`) is the one `bars demo` runs too.

pub mod proxy;
pub mod receiver;
pub mod registry;

use std::net::SocketAddr;

use anyhow::Context;
use bars_http::server::ServerOptions;
use bars_stack::roles::{Finish, Listeners, Running};
use bars_store::postgres::redact;
use tokio::net::TcpListener;

use crate::admin_listener::AdminListener;
use crate::limit_args::LimitArgs;
use crate::settings::{Problems, RoleSettings, check_role};
use crate::tls_args::TlsArgs;

/// The settings every role has, borrowed from its settings struct.
pub struct Common<'a> {
    /// The role the file says it configures.
    pub role: Option<&'a str>,
    pub listen: Option<SocketAddr>,
    pub admin_listen: Option<SocketAddr>,
    pub admin_token: Option<&'a str>,
    pub admin_tls: bool,
    pub database: Option<&'a str>,
    pub base_url: Option<&'a str>,
    pub tls: &'a TlsArgs,
    pub limits: &'a LimitArgs,
}

/// A role's settings as far as every role's are alike: its defaults, and what follows from the
/// settings they share.
pub trait Role: RoleSettings {
    const DEFAULT_LISTEN: SocketAddr;
    const DEFAULT_ADMIN_LISTEN: SocketAddr;
    const DEFAULT_DATABASE: &'static str;
    /// The environment variable that carries the admin token, named in messages.
    const ADMIN_TOKEN_ENV: &'static str;

    fn common(&self) -> Common<'_>;

    fn listen(&self) -> SocketAddr {
        self.common().listen.unwrap_or(Self::DEFAULT_LISTEN)
    }

    fn admin_listen(&self) -> SocketAddr {
        self.common()
            .admin_listen
            .unwrap_or(Self::DEFAULT_ADMIN_LISTEN)
    }

    fn database(&self) -> &str {
        self.common().database.unwrap_or(Self::DEFAULT_DATABASE)
    }

    fn admin(&self) -> AdminListener<'_> {
        let common = self.common();
        AdminListener {
            listen: self.admin_listen(),
            token: common.admin_token,
            tls: common.admin_tls,
            token_env: Self::ADMIN_TOKEN_ENV,
        }
    }

    /// The public base URL: as given, else the listen address with the scheme `[tls]` gives.
    fn base_url(&self) -> String {
        let common = self.common();
        common.base_url.map_or_else(
            || format!("{}://{}", common.tls.scheme(), self.listen()),
            str::to_string,
        )
    }

    /// Where the role listens, as `bars config check` says it: `on ADDR (admin URL)`.
    fn listening(&self) -> String {
        format!(
            "on {} (admin {}://{})",
            self.listen(),
            self.admin().scheme(),
            self.admin_listen()
        )
    }

    /// The problems every role checks for the same way: the file's role, the two listeners,
    /// the base URL, the database URL, TLS, the admin listener and the limits.
    fn common_problems(&self) -> Problems {
        let common = self.common();
        let mut problems = Problems::default();
        check_role(&mut problems, common.role, Self::ROLE);
        if self.listen() == self.admin_listen() {
            problems.error("admin_listen", "must differ from listen");
        }
        problems.url("base_url", common.base_url);
        problems.database("database", common.database);
        common.tls.check(&mut problems);
        self.admin().check(common.tls, &mut problems);
        common.limits.check(&mut problems);
        problems
    }
}

/// Implements [`Role`] for a role's settings struct: the settings every role has carry the
/// same names in each (`listen`, `admin_listen`, `admin_token`, `admin_tls`, `database`,
/// `base_url`, `tls`, `limits`, and the file's `role`).
macro_rules! role {
    ($ty:ty {
        listen: $listen:expr,
        admin_listen: $admin_listen:expr,
        database: $database:expr,
        admin_token_env: $token_env:expr $(,)?
    }) => {
        impl $crate::roles::Role for $ty {
            const DEFAULT_LISTEN: std::net::SocketAddr = $listen;
            const DEFAULT_ADMIN_LISTEN: std::net::SocketAddr = $admin_listen;
            const DEFAULT_DATABASE: &'static str = $database;
            const ADMIN_TOKEN_ENV: &'static str = $token_env;

            fn common(&self) -> $crate::roles::Common<'_> {
                $crate::roles::Common {
                    role: self.role.as_deref(),
                    listen: self.listen,
                    admin_listen: self.admin_listen,
                    admin_token: self.admin_token.as_deref(),
                    admin_tls: self.admin_tls,
                    database: self.database.as_deref(),
                    base_url: self.base_url.as_deref(),
                    tls: &self.tls,
                    limits: &self.limits,
                }
            }
        }
    };
}
pub(crate) use role;

/// Binds the role's two listeners (a port in use stops start-up, naming it) and reads what they
/// serve with: the role's certificate, the admin listener's, its token and the limits.
pub async fn listeners<R: Role>(role: &R) -> anyhow::Result<Listeners> {
    let common = role.common();
    let tls = common.tls.listener()?;
    let admin_tls = role.admin().tls(common.tls)?;
    let bind = |addr: SocketAddr| async move {
        TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))
    };
    Ok(Listeners {
        api: bind(role.listen()).await?,
        admin: bind(role.admin_listen()).await?,
        tls,
        admin_tls,
        admin_token: common.admin_token.map(str::to_string),
        options: common.limits.server(ServerOptions::default()),
    })
}

/// What every `bars <role>` does once its role is running: says so, waits for SIGTERM or
/// Ctrl-C, then stops it (in-flight requests finish first).
pub async fn until_signal<R: Finish>(role: &str, running: Running<R>, database: &str) {
    let servers = &running.servers;
    tracing::info!(api = %servers.api.addr, admin = %servers.admin.addr, database = %redact(database), "{role} ready");
    crate::shutdown::signal().await;
    tracing::info!("stopping: draining in-flight requests");
    running.stop().await;
    tracing::info!("stopped");
}
