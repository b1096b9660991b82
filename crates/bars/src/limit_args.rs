//! Limits flags shared by the roles that listen: how much of the machine one client may hold.

use std::time::Duration;

use bars_http::fhir_json::DEFAULT_BODY_LIMIT;
use bars_http::server::ServerOptions;

use crate::settings::Problems;

const DEFAULT_MAX_CONNECTIONS: usize = 1024;
const DEFAULT_HEADER_TIMEOUT: u64 = 10;

/// The `[limits]` table of a role's file, or the `--max-*` flags.
#[derive(Debug, Clone, Default, clap::Args, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitArgs {
    /// Connections each listener serves at once; further clients wait in the listen backlog
    /// [default: 1024].
    #[arg(long, env = "BARS_MAX_CONNECTIONS")]
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Seconds a client has to send a request's head; a kept-alive connection idle this long
    /// is closed, so slow or silent clients cannot hold connections [default: 10].
    #[arg(long, env = "BARS_HEADER_TIMEOUT")]
    #[serde(default)]
    pub header_timeout: Option<u64>,
    /// Largest request body in bytes; larger is refused with 413 [default: 1048576].
    #[arg(long, env = "BARS_MAX_BODY_BYTES")]
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
}

crate::layered!(LimitArgs {
    max_connections,
    header_timeout,
    max_body_bytes
});

impl LimitArgs {
    pub fn check(&self, problems: &mut Problems) {
        if self.max_connections == Some(0) {
            problems.error("limits.max_connections", "must be at least 1");
        }
        if self.header_timeout == Some(0) {
            problems.error("limits.header_timeout", "must be at least 1 second");
        }
        if self.max_body_bytes.is_some_and(|b| b < 1024) {
            problems.error(
                "limits.max_body_bytes",
                "must be at least 1024: a booking alone is larger",
            );
        }
    }

    pub fn body_limit(&self) -> usize {
        self.max_body_bytes.unwrap_or(DEFAULT_BODY_LIMIT)
    }

    /// `base` with these limits.
    pub fn server(&self, base: ServerOptions) -> ServerOptions {
        ServerOptions {
            max_connections: self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            header_read_timeout: Duration::from_secs(
                self.header_timeout.unwrap_or(DEFAULT_HEADER_TIMEOUT),
            ),
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides_reach_the_server_options() {
        let defaults = LimitArgs::default().server(ServerOptions::default());
        assert_eq!(defaults.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
        let set = LimitArgs {
            max_connections: Some(7),
            header_timeout: Some(3),
            max_body_bytes: Some(4096),
        };
        let options = set.server(ServerOptions::default());
        assert_eq!(options.max_connections, 7);
        assert_eq!(options.header_read_timeout, Duration::from_secs(3));
        assert_eq!(set.body_limit(), 4096);
    }

    #[test]
    fn nonsense_limits_are_named() {
        let mut problems = Problems::default();
        LimitArgs {
            max_connections: Some(0),
            header_timeout: Some(0),
            max_body_bytes: Some(10),
        }
        .check(&mut problems);
        let fields: Vec<&str> = problems.0.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "limits.max_connections",
                "limits.header_timeout",
                "limits.max_body_bytes"
            ]
        );
    }
}
