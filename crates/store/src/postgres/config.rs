//! What a `postgres://` URL says: the driver's own parameters (host, user, `options`,
//! `connect_timeout`, ...) and the store's, which the driver would refuse as unknown and are
//! therefore taken out before it sees the URL.
//!
//! The store's parameters: `pool_size` (connections per process), `pool_timeout` (how long a
//! request waits for a free connection), `statement_timeout` (set on every connection) and
//! `isolation` (`read_committed`, the default, or `serializable`). Durations are milliseconds,
//! or carry an `ms`/`s` suffix.
//!
//! `sslmode` and `sslrootcert` keep libpq's names, but the store reads them itself (the driver
//! knows no certificate checks): see [`super::tls`].

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::IsolationLevel;

use super::tls::{self, TlsSettings};
use crate::error::StoreError;

/// A database URL taken apart: what the driver gets, the store's own options, and TLS.
#[derive(Debug, Clone)]
pub struct ParsedUrl {
    pub driver: tokio_postgres::Config,
    pub options: PgOptions,
    pub tls: TlsSettings,
}

impl ParsedUrl {
    /// The hosts the URL connects to, for messages (`a,b` when there are several).
    pub fn hosts(&self) -> String {
        let names: Vec<String> = self
            .driver
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        names.join(",")
    }
}

/// The pool and session settings of a PostgreSQL store.
#[derive(Debug, Clone, Copy)]
pub struct PgOptions {
    /// Connections this process may hold. Every instance holds its own, so N instances need
    /// N x pool_size under the server's `max_connections`.
    pub pool_size: usize,
    /// How long a request waits for a connection before it is answered 503.
    pub pool_timeout: Duration,
    /// The server cancels any statement running longer; below the BaRS 5 s budget so the
    /// sender hears 503 from the store rather than 408 from the request guard.
    pub statement_timeout: Duration,
    /// How long opening a connection may take (the driver's `connect_timeout`).
    pub connect_timeout: Duration,
    pub isolation: IsolationLevel,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: 16,
            pool_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(4),
            connect_timeout: Duration::from_secs(3),
            isolation: IsolationLevel::ReadCommitted,
        }
    }
}

fn bad(what: &str) -> StoreError {
    StoreError::Internal(format!("invalid PostgreSQL URL: {what}"))
}

fn duration(key: &str, value: &str) -> Result<Duration, StoreError> {
    let (digits, scale) = if let Some(ms) = value.strip_suffix("ms") {
        (ms, 1)
    } else if let Some(s) = value.strip_suffix('s') {
        (s, 1000)
    } else {
        (value, 1)
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| bad(&format!("{key} must be a duration such as 500ms or 4s")))?;
    Ok(Duration::from_millis(n.saturating_mul(scale)))
}

/// A URL parameter's value as written (`%2F` is `/`).
fn decoded(key: &str, value: &str) -> Result<String, StoreError> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|v| v.into_owned())
        .map_err(|_| bad(&format!("{key} is not UTF-8 text")))
}

/// Splits `url` into the driver's configuration, the store's options and the TLS settings.
pub fn parse(url: &str) -> Result<ParsedUrl, StoreError> {
    let mut options = PgOptions::default();
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut given = Vec::new();
    let (mut sslmode, mut sslrootcert) = (None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        given.push(key.to_string());
        match key {
            "sslmode" => sslmode = Some(decoded(key, value)?),
            "sslrootcert" => sslrootcert = Some(decoded(key, value)?),
            "pool_size" => {
                options.pool_size = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("pool_size must be a positive number"))?;
            }
            "pool_timeout" => options.pool_timeout = duration(key, value)?,
            "statement_timeout" => options.statement_timeout = duration(key, value)?,
            "isolation" => {
                options.isolation = match value {
                    "read_committed" => IsolationLevel::ReadCommitted,
                    "serializable" => IsolationLevel::Serializable,
                    _ => return Err(bad("isolation is read_committed or serializable")),
                }
            }
            // The driver's own parameters (an unknown one is refused by the driver below).
            _ => kept.push(pair),
        }
    }
    let driver_url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    // The driver's own message may quote the URL, password included: say only what is wrong.
    let mut config = tokio_postgres::Config::from_str(&driver_url)
        .map_err(|e| bad(&e.to_string().replace(url, "<url>")))?;
    let has = |k: &str| given.iter().any(|g| g == k);
    match config.get_connect_timeout() {
        Some(t) => options.connect_timeout = *t,
        None => {
            config.connect_timeout(options.connect_timeout);
        }
    }
    // A peer that vanishes without closing (a cut network) is noticed in seconds, not hours.
    if !has("keepalives_idle") {
        config.keepalives_idle(Duration::from_secs(10));
    }
    if !has("keepalives_interval") {
        config.keepalives_interval(Duration::from_secs(3));
    }
    if !has("keepalives_retries") {
        config.keepalives_retries(3);
    }
    if !has("tcp_user_timeout") {
        config.tcp_user_timeout(Duration::from_secs(10));
    }
    if config.get_application_name().is_none() {
        config.application_name("bars");
    }
    let session = format!(
        "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
        options.statement_timeout.as_millis(),
        (options.statement_timeout * 3).as_millis()
    );
    let merged = match config.get_options() {
        Some(existing) if !existing.trim().is_empty() => format!("{existing} {session}"),
        _ => session,
    };
    config.options(&merged);
    let tls = tls::settings(sslmode.as_deref(), sslrootcert.as_deref(), &config)?;
    config.ssl_mode(tls.driver_mode());
    Ok(ParsedUrl {
        driver: config,
        options,
        tls,
    })
}

/// The URL with any password replaced, for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let redacted_tail = redact_password_param(tail);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{redacted_tail}")
        }
        None => format!("{scheme}://{authority}{redacted_tail}"),
    }
}

fn redact_password_param(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|p| {
            if p.starts_with("password=") {
                "password=***".to_string()
            } else {
                p.to_string()
            }
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_takes_its_parameters_and_the_driver_gets_the_rest() {
        let ParsedUrl {
            driver: config,
            options,
            tls,
        } = parse(
            "postgres://u@127.0.0.1:5432/test?pool_size=3&options=-c%20search_path%3Dt_1&statement_timeout=250ms&sslrootcert=%2Fetc%2Fbars%2Fca.pem&pool_timeout=1s&connect_timeout=7&sslmode=verify-full",
        )
        .unwrap();
        assert_eq!(tls.mode, tls::SslMode::VerifyFull);
        assert_eq!(tls.roots, tls::Roots::File("/etc/bars/ca.pem".into()));
        assert_eq!(
            config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(options.pool_size, 3);
        assert_eq!(options.statement_timeout, Duration::from_millis(250));
        assert_eq!(options.pool_timeout, Duration::from_secs(1));
        assert_eq!(options.connect_timeout, Duration::from_secs(7));
        assert_eq!(config.get_dbname(), Some("test"));
        let session = config.get_options().unwrap();
        assert!(session.starts_with("-c search_path=t_1 "), "{session}");
        assert!(session.contains("statement_timeout=250"), "{session}");
    }

    #[test]
    fn bad_values_are_refused_without_quoting_the_password() {
        for url in [
            "postgres://u:secret@h/db?pool_size=0",
            "postgres://u:secret@h/db?statement_timeout=soon",
            "postgres://u:secret@h/db?isolation=chaos",
            "postgres://u:secret@h/db?no_such_option=1",
        ] {
            let e = parse(url).unwrap_err().to_string();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db?password=x&pool_size=2"),
            "postgres://u:***@h:5432/db?password=***&pool_size=2"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact("sqlite://data/r.db"), "sqlite://data/r.db");
    }
}
