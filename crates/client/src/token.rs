//! Access tokens for a sending application: a signed client assertion exchanged at the proxy's
//! token endpoint, cached and renewed shortly before it expires.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bars_http::client::{BearerSource, HttpClient};
use bytes::Bytes;
use http::Method;
use tokio::sync::Mutex;

use crate::assertion::{AssertionError, JWT_BEARER_ASSERTION_TYPE, sign_client_assertion};
use crate::key::resolve_algorithm;
use crate::record::{self, Recorder};

/// What a sending application is registered with at the proxy.
#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub kid: String,
    /// `RS512` or `ES256`: the key's own ([`Credentials::from_key`] reads it from the key).
    pub algorithm: String,
    pub private_pem: String,
    pub token_url: String,
}

impl Credentials {
    /// Credentials that sign with the algorithm of `private_pem` itself; `algorithm`, when the
    /// caller names one anyway, must be that one (see [`crate::key::resolve_algorithm`]).
    pub fn from_key(
        client_id: &str,
        kid: &str,
        private_pem: String,
        token_url: &str,
        algorithm: Option<&str>,
    ) -> Result<Credentials, AssertionError> {
        let algorithm = resolve_algorithm(algorithm, &private_pem)?;
        Ok(Credentials {
            client_id: client_id.to_string(),
            kid: kid.to_string(),
            algorithm: algorithm.to_string(),
            private_pem,
            token_url: token_url.to_string(),
        })
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("kid", &self.kid)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

/// Renew this long before a token expires, so a call never leaves with a token about to die.
const RENEW_BEFORE: Duration = Duration::from_secs(30);
/// Assertions live a minute: well inside the proxy's five-minute limit.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the client assertion could not be signed: {0}")]
    Assertion(String),
    #[error("the token endpoint could not be reached: {0}")]
    Unreachable(String),
    #[error("the token endpoint refused: {error}: {description}")]
    Refused {
        status: u16,
        error: String,
        description: String,
    },
    #[error("the token endpoint's answer was not understood")]
    Malformed,
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// A cached access token, renewed on demand. One renewal at a time: concurrent callers wait
/// for it rather than each asking the proxy.
pub struct TokenSource {
    credentials: Credentials,
    http: HttpClient,
    cached: Mutex<Option<Cached>>,
    recorder: Option<Arc<dyn Recorder>>,
    file: Option<TokenFile>,
}

/// An access token kept on disk between the processes of one sender. The CLI runs a process
/// per command, and a sender should use a token until it expires rather than ask for one per
/// call (the proxy rate-limits token requests); a long-running sender needs no file, its
/// [`TokenSource`] keeps the token in memory. The file is readable by its owner only and named
/// after the application, its key and the token endpoint, so a token is never offered to
/// another proxy or on behalf of another application; a token the proxy no longer accepts
/// costs one refused call (the client then asks for a new one, see `transport`).
#[derive(Debug, Clone)]
pub struct TokenFile {
    dir: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeptToken {
    client_id: String,
    kid: String,
    token_url: String,
    access_token: String,
    /// Seconds since the Unix epoch.
    expires_at: u64,
}

impl TokenFile {
    pub fn in_dir(dir: impl Into<PathBuf>) -> TokenFile {
        TokenFile { dir: dir.into() }
    }

    /// `BARS_TOKEN_CACHE` (a directory, or `off`), else the user's cache directory
    /// (`$XDG_CACHE_HOME/bars`, `$HOME/.cache/bars`); `None` when there is none.
    pub fn default_location() -> Option<TokenFile> {
        match std::env::var_os("BARS_TOKEN_CACHE") {
            Some(v) if v == "off" => None,
            Some(v) if !v.is_empty() => Some(TokenFile::in_dir(v)),
            _ => std::env::var_os("XDG_CACHE_HOME")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
                .map(|base| TokenFile::in_dir(base.join("bars"))),
        }
    }

    fn path(&self, c: &Credentials) -> PathBuf {
        let key = format!("{}\0{}\0{}", c.client_id, c.kid, c.token_url);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
        let name: String = digest.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("token-{name}.json"))
    }

    /// The kept token for `c` and how long it is still good for, if it is good for longer than
    /// the renewal margin.
    fn load(&self, c: &Credentials) -> Option<(String, Duration)> {
        let text = std::fs::read_to_string(self.path(c)).ok()?;
        let kept: KeptToken = serde_json::from_str(&text).ok()?;
        if (
            kept.client_id.as_str(),
            kept.kid.as_str(),
            kept.token_url.as_str(),
        ) != (c.client_id.as_str(), c.kid.as_str(), c.token_url.as_str())
        {
            return None;
        }
        let left = Duration::from_secs(kept.expires_at.checked_sub(unix_now())?);
        (left > RENEW_BEFORE).then_some((kept.access_token, left))
    }

    /// Keeps `token` for `c`: written whole to a file only its owner can read, then renamed
    /// over the last one, so a reader never sees half a token.
    fn save(&self, c: &Credentials, token: &str, lifetime: Duration) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let kept = KeptToken {
            client_id: c.client_id.clone(),
            kid: c.kid.clone(),
            token_url: c.token_url.clone(),
            access_token: token.to_string(),
            expires_at: unix_now() + lifetime.as_secs(),
        };
        let path = self.path(c);
        let partial = path.with_extension(format!("part-{}", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&partial)?;
        std::io::Write::write_all(&mut file, serde_json::to_string(&kept)?.as_bytes())?;
        drop(file);
        std::fs::rename(&partial, &path)
    }

    fn forget(&self, c: &Credentials) {
        let _ = std::fs::remove_file(self.path(c));
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TokenSource {
    pub fn new(credentials: Credentials, http: HttpClient) -> Arc<TokenSource> {
        TokenSource::recorded(credentials, http, None)
    }

    /// A token source that tells `recorder` of every token request it makes.
    pub fn recorded(
        credentials: Credentials,
        http: HttpClient,
        recorder: Option<Arc<dyn Recorder>>,
    ) -> Arc<TokenSource> {
        TokenSource::kept(credentials, http, recorder, None)
    }

    /// A token source that also keeps its token in `file`, for the next process of the same
    /// sender (see [`TokenFile`]).
    pub fn kept(
        credentials: Credentials,
        http: HttpClient,
        recorder: Option<Arc<dyn Recorder>>,
        file: Option<TokenFile>,
    ) -> Arc<TokenSource> {
        Arc::new(TokenSource {
            credentials,
            http,
            cached: Mutex::new(None),
            recorder,
            file,
        })
    }

    pub fn client_id(&self) -> &str {
        &self.credentials.client_id
    }

    /// A token good for at least the renewal margin.
    pub async fn token(&self) -> Result<String, TokenError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let kept = match (&self.file, cached.is_none()) {
            (Some(file), true) => file.load(&self.credentials),
            _ => None,
        };
        let (token, lifetime) = match kept {
            Some(kept) => kept,
            None => {
                let (token, lifetime) = self.fetch().await?;
                if let Some(file) = &self.file
                    && let Err(e) = file.save(&self.credentials, &token, lifetime)
                {
                    tracing::debug!(error = %e, "the access token was not kept for the next command");
                }
                (token, lifetime)
            }
        };
        let renew_at = Instant::now()
            + lifetime
                .saturating_sub(RENEW_BEFORE)
                .max(Duration::from_secs(1));
        *cached = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        Ok(token)
    }

    /// Forgets the cached token (after a 401, say), so the next call gets a fresh one.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
        if let Some(file) = &self.file {
            file.forget(&self.credentials);
        }
    }

    async fn fetch(&self) -> Result<(String, Duration), TokenError> {
        let c = &self.credentials;
        let assertion = sign_client_assertion(
            &c.client_id,
            &c.kid,
            &c.algorithm,
            &c.private_pem,
            &c.token_url,
            ASSERTION_LIFETIME,
        )
        .map_err(|e| TokenError::Assertion(e.to_string()))?;
        let form = format!(
            "grant_type=client_credentials&client_assertion_type={}&client_assertion={}",
            percent_encoding::utf8_percent_encode(
                JWT_BEARER_ASSERTION_TYPE,
                percent_encoding::NON_ALPHANUMERIC
            ),
            assertion
        );
        let r = record::call(
            &self.http,
            self.recorder.as_deref(),
            Method::POST,
            &c.token_url,
            &[("content-type", "application/x-www-form-urlencoded".into())],
            Some(Bytes::from(form)),
        )
        .await
        .map_err(|e| TokenError::Unreachable(e.to_string()))?;
        let body = r.json().ok_or(TokenError::Malformed)?;
        if !r.status.is_success() {
            return Err(TokenError::Refused {
                status: r.status.as_u16(),
                error: body["error"].as_str().unwrap_or("unknown").to_string(),
                description: body["error_description"].as_str().unwrap_or("").to_string(),
            });
        }
        let token = body["access_token"]
            .as_str()
            .ok_or(TokenError::Malformed)?
            .to_string();
        let seconds = body["expires_in"]
            .as_u64()
            .or_else(|| body["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(60);
        Ok((token, Duration::from_secs(seconds)))
    }
}

impl BearerSource for TokenSource {
    fn bearer(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + '_>>
    {
        Box::pin(async move { self.token().await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod kept_tests {
    use super::*;

    fn credentials(client_id: &str) -> Credentials {
        Credentials {
            client_id: client_id.into(),
            kid: "k1".into(),
            algorithm: "ES256".into(),
            private_pem: String::new(),
            token_url: "https://proxy.example/oauth2/token".into(),
        }
    }

    #[test]
    fn a_kept_token_is_offered_to_its_own_application_only_while_it_lasts() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_dir(dir.path().join("cache"));
        let ours = credentials("app-1");
        file.save(&ours, "token-1", Duration::from_secs(600))
            .unwrap();
        let (token, left) = file.load(&ours).unwrap();
        assert_eq!(token, "token-1");
        assert!(left > Duration::from_secs(500));
        // Another application, key or proxy is never given it.
        assert!(file.load(&credentials("app-2")).is_none());
        let mut other_proxy = ours.clone();
        other_proxy.token_url = "https://elsewhere.example/oauth2/token".into();
        assert!(file.load(&other_proxy).is_none());
        // A token inside the renewal margin is not offered.
        file.save(&ours, "token-2", Duration::from_secs(10))
            .unwrap();
        assert!(file.load(&ours).is_none());
        file.save(&ours, "token-3", Duration::from_secs(600))
            .unwrap();
        file.forget(&ours);
        assert!(file.load(&ours).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn a_kept_token_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::in_dir(dir.path());
        let ours = credentials("app-1");
        file.save(&ours, "token-1", Duration::from_secs(600))
            .unwrap();
        let mode = std::fs::metadata(file.path(&ours))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
