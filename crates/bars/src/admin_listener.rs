//! The operators' listener every role has (admin API, metrics, health), checked as one thing:
//! its address, its token and whether it serves TLS. An admin API changes what a role does (the
//! proxy's admin API registers sender applications and their keys), so one reachable from other
//! machines without a token would be an open door; such a configuration stops start-up.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use bars_pki::Identity;
use bars_pki::tls::{ClientAuth, server_config};

use crate::settings::Problems;
use crate::tls_args::TlsArgs;

/// The shortest admin token accepted: guessing must not be a plan.
pub const MIN_TOKEN_LEN: usize = 16;

/// A role's admin listener settings, borrowed from its settings struct.
pub struct AdminListener<'a> {
    pub listen: SocketAddr,
    pub token: Option<&'a str>,
    /// Serve HTTPS with the role's own certificate (`[tls]`).
    pub tls: bool,
    /// The environment variable that carries the token, named in the messages.
    pub token_env: &'static str,
}

impl AdminListener<'_> {
    /// Adds what is wrong with these settings to `problems`, each naming its setting.
    pub fn check(&self, role_tls: &TlsArgs, problems: &mut Problems) {
        if let Some(token) = self.token
            && token.trim().len() < MIN_TOKEN_LEN
        {
            problems.error(
                "admin_token",
                format!("must be at least {MIN_TOKEN_LEN} characters"),
            );
        }
        if !self.listen.ip().is_loopback() && self.token.is_none() {
            problems.error(
                "admin_listen",
                format!(
                    "{} is reachable from other machines, so admin_token is required \
                     (set {} or admin_token), or listen on loopback (127.0.0.1)",
                    self.listen, self.token_env
                ),
            );
        }
        if self.tls && (role_tls.tls_cert.is_none() || role_tls.tls_key.is_none()) {
            problems.error(
                "admin_tls",
                "needs tls.cert and tls.key: the admin listener serves the role's certificate",
            );
        }
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// The role's certificate when `admin_tls` is on, `None` otherwise. No client certificate
    /// is asked for: operators authenticate with the token.
    pub fn tls(&self, role_tls: &TlsArgs) -> anyhow::Result<Option<Arc<rustls::ServerConfig>>> {
        if !self.tls {
            return Ok(None);
        }
        let (Some(cert), Some(key)) = (&role_tls.tls_cert, &role_tls.tls_key) else {
            anyhow::bail!("admin_tls needs tls.cert and tls.key");
        };
        let read = |path: &std::path::PathBuf| {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
        };
        let identity = Identity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        };
        let config = server_config(&identity, None, ClientAuth::None)
            .map_err(|e| anyhow::anyhow!("the admin listener's TLS: {e}"))?;
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(listen: &str, token: Option<&str>, tls: bool, role_tls: &TlsArgs) -> Vec<String> {
        let mut p = Problems::default();
        AdminListener {
            listen: listen.parse().unwrap(),
            token,
            tls,
            token_env: "BARS_X_ADMIN_TOKEN",
        }
        .check(role_tls, &mut p);
        p.0.iter().map(ToString::to_string).collect()
    }

    const TOKEN: &str = "a-long-enough-admin-token";

    #[test]
    fn beyond_loopback_a_token_is_required() {
        let none = TlsArgs::default();
        for open in ["0.0.0.0:9001", "10.1.2.3:9001", "[::]:9001"] {
            let found = problems(open, None, false, &none);
            assert_eq!(found.len(), 1, "{open}: {found:?}");
            assert!(
                found[0].starts_with("admin_listen: ")
                    && found[0].contains("admin_token is required")
                    && found[0].contains("BARS_X_ADMIN_TOKEN"),
                "{found:?}"
            );
            assert!(problems(open, Some(TOKEN), false, &none).is_empty());
        }
        for local in ["127.0.0.1:9001", "127.0.0.2:9001", "[::1]:9001"] {
            assert!(problems(local, None, false, &none).is_empty(), "{local}");
        }
    }

    #[test]
    fn a_short_token_is_refused() {
        let found = problems("127.0.0.1:9001", Some("short"), false, &TlsArgs::default());
        assert_eq!(found, ["admin_token: must be at least 16 characters"]);
    }

    #[test]
    fn admin_tls_needs_the_roles_certificate() {
        let found = problems("127.0.0.1:9001", None, true, &TlsArgs::default());
        assert_eq!(found.len(), 1);
        assert!(
            found[0].starts_with("admin_tls: needs tls.cert"),
            "{found:?}"
        );
        let with = TlsArgs {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            ..TlsArgs::default()
        };
        assert!(problems("127.0.0.1:9001", None, true, &with).is_empty());
    }
}
