//! An exchange made safe and readable: secrets cut short, BaRS headers decoded, the client
//! assertion's claims shown (never its signature), the OperationOutcome picked out and
//! explained, and a curl command that repeats the request with the secrets left as variables.

use std::time::SystemTime;

use bars_client::{BarsError, Exchange};
use bars_fhir::headers::decode_lenient_json;
use bars_fhir::outcome::{OutcomeSummary, summarise};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::percent_decode_str;
use serde_json::Value;

/// Headers whose value is Base64 JSON (BaRS 3.1-3.2).
const ENCODED_HEADERS: [&str; 4] = [
    "nhsd-target-identifier",
    "nhsd-end-user-organisation",
    "nhsd-requesting-software",
    "nhsd-requesting-practitioner",
];

/// Characters of a secret shown before it is cut.
const SECRET_PREFIX: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The OAuth2 token request (a signed client assertion for an access token).
    Token,
    /// A BaRS API call through the proxy.
    Api,
}

#[derive(Debug, Clone)]
pub struct Header {
    pub name: String,
    pub value: String,
    /// The decoded JSON of a Base64 JSON header, pretty-printed.
    pub decoded: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Assertion {
    pub header: String,
    pub claims: String,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub summary: OutcomeSummary,
    pub explanation: String,
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<Header>,
    pub body: Option<String>,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone)]
pub struct Shown {
    pub kind: Kind,
    pub method: String,
    pub url: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<Header>,
    pub body: Option<String>,
    pub assertion: Option<Assertion>,
    pub response: Result<Response, String>,
    pub started: SystemTime,
    pub millis: f64,
    pub curl: String,
}

/// `eyJhbGciOi… (redacted: 812 characters)`.
pub fn redact(secret: &str) -> String {
    let shown: String = secret.chars().take(SECRET_PREFIX).collect();
    format!("{shown}… (redacted: {} characters)", secret.chars().count())
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn header(name: &str, value: &str) -> Header {
    let lower = name.to_ascii_lowercase();
    let (value, decoded) = if lower == "authorization" {
        let redacted = match value.split_once(' ') {
            Some((scheme, token)) => format!("{scheme} {}", redact(token)),
            None => redact(value),
        };
        (redacted, None)
    } else if ENCODED_HEADERS.contains(&lower.as_str()) {
        (
            value.to_string(),
            decode_lenient_json(value).ok().map(|v| pretty(&v)),
        )
    } else {
        (value.to_string(), None)
    };
    Header {
        name: lower,
        value,
        decoded,
    }
}

/// The JOSE header and claims of a JWT; the signature is dropped.
fn decode_jwt(jwt: &str) -> Option<Assertion> {
    let mut parts = jwt.split('.');
    let part = |p: Option<&str>| -> Option<String> {
        let bytes = URL_SAFE_NO_PAD.decode(p?.trim_end_matches('=')).ok()?;
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .map(|v| pretty(&v))
    };
    Some(Assertion {
        header: part(parts.next())?,
        claims: part(parts.next())?,
    })
}

fn form_fields(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let decode = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            Some((decode(k), decode(v)))
        })
        .collect()
}

/// A response body fit to show: JSON pretty-printed, an access token cut short.
fn response_body(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(mut v) => {
            if let Some(token) = v.get_mut("access_token")
                && let Some(t) = token.as_str()
            {
                *token = Value::String(redact(t));
            }
            Some(pretty(&v))
        }
        Err(_) => Some(String::from_utf8_lossy(bytes).into_owned()),
    }
}

/// Single-quoted for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn curl(kind: Kind, e: &Exchange) -> String {
    // The CA only matters over TLS (a receiver's admin API is often plain HTTP on loopback).
    let ca = if e.url.starts_with("https://") {
        "--cacert \"$BARS_CA\" "
    } else {
        ""
    };
    let mut lines = vec![format!("curl {ca}-X {} {}", e.method, quote(&e.url))];
    for (name, value) in &e.request_headers {
        if name.eq_ignore_ascii_case("authorization") {
            lines.push(format!(
                "  -H {}",
                quote("Authorization: Bearer ") + "\"$BARS_TOKEN\""
            ));
        } else {
            lines.push(format!("  -H {}", quote(&format!("{name}: {value}"))));
        }
    }
    if let Some(body) = &e.request_body {
        match kind {
            Kind::Token => {
                for (k, v) in form_fields(&String::from_utf8_lossy(body)) {
                    if k == "client_assertion" {
                        lines
                            .push("  --data-urlencode \"client_assertion=$BARS_ASSERTION\"".into());
                    } else {
                        lines.push(format!("  --data-urlencode {}", quote(&format!("{k}={v}"))));
                    }
                }
            }
            Kind::Api => {
                lines.push(format!(
                    "  --data-binary {}",
                    quote(&String::from_utf8_lossy(body))
                ));
            }
        }
    }
    lines.join(" \\\n")
}

/// The exchange as the workbench shows it; nothing secret survives this.
pub fn show(e: &Exchange) -> Shown {
    let body_text = e
        .request_body
        .as_ref()
        .map(|b| String::from_utf8_lossy(b).into_owned());
    let is_form = e.request_headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type") && v.starts_with("application/x-www-form-urlencoded")
    });
    let kind = if is_form
        && body_text
            .as_deref()
            .is_some_and(|b| b.contains("client_assertion="))
    {
        Kind::Token
    } else {
        Kind::Api
    };
    let mut assertion = None;
    let body = match (kind, body_text) {
        (Kind::Token, Some(text)) => {
            let fields = form_fields(&text);
            let mut shown = Vec::new();
            for (k, v) in fields {
                if k == "client_assertion" {
                    assertion = decode_jwt(&v);
                    shown.push(format!(
                        "{k}=(the signed assertion: header and claims below; signature not shown)"
                    ));
                } else {
                    shown.push(format!("{k}={v}"));
                }
            }
            Some(shown.join("\n"))
        }
        (_, Some(text)) => Some(
            serde_json::from_str::<Value>(&text)
                .map(|v| pretty(&v))
                .unwrap_or(text),
        ),
        (_, None) => None,
    };
    let path = e
        .url
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_else(|| e.url.clone());
    let response = match &e.response {
        Ok(r) => {
            let json = serde_json::from_slice::<Value>(&r.body).ok();
            let outcome = json.as_ref().and_then(summarise).map(|summary| Outcome {
                summary,
                explanation: BarsError::refused(r.status.as_u16(), &r.body).explanation(),
            });
            Ok(Response {
                status: r.status.as_u16(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| header(k.as_str(), &String::from_utf8_lossy(v.as_bytes())))
                    .collect(),
                body: response_body(&r.body),
                outcome,
            })
        }
        Err(why) => Err(why.clone()),
    };
    Shown {
        kind,
        method: e.method.to_string(),
        url: e.url.clone(),
        path,
        headers: e
            .request_headers
            .iter()
            .map(|(k, v)| header(k, v))
            .collect(),
        body,
        assertion,
        response,
        started: e.started,
        millis: e.elapsed.as_secs_f64() * 1000.0,
        curl: curl(kind, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bars_http::client::ClientResponse;
    use bytes::Bytes;
    use http::{HeaderMap, Method, StatusCode};
    use std::time::Duration;

    fn jwt(claims: &str) -> String {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.{}",
            enc(r#"{"alg":"RS512","kid":"k1"}"#),
            enc(claims),
            "c2lnbmF0dXJlLXNlY3JldA"
        )
    }

    #[test]
    fn a_token_request_shows_claims_but_no_secret() {
        let assertion = jwt(r#"{"iss":"demo-sender","jti":"j1"}"#);
        let token = "eyJzZWNyZXQtYWNjZXNzLXRva2VuLXZhbHVl";
        let e = Exchange {
            method: Method::POST,
            url: "https://proxy/oauth2/token".into(),
            request_headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            request_body: Some(Bytes::from(format!(
                "grant_type=client_credentials&client_assertion={assertion}"
            ))),
            response: Ok(ClientResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::from(format!(r#"{{"access_token":"{token}","expires_in":599}}"#)),
            }),
            started: SystemTime::now(),
            elapsed: Duration::from_millis(3),
        };
        let s = show(&e);
        assert_eq!(s.kind, Kind::Token);
        let a = s.assertion.as_ref().unwrap();
        assert!(a.claims.contains("demo-sender") && a.header.contains("RS512"));
        let everything = format!("{s:?}");
        assert!(
            !everything.contains(&assertion),
            "the assertion is shown whole"
        );
        assert!(
            !everything.contains("c2lnbmF0dXJlLXNlY3JldA"),
            "the signature is shown"
        );
        assert!(
            !everything.contains(token),
            "the access token is shown whole"
        );
        assert!(s.curl.contains("$BARS_ASSERTION"));
    }

    #[test]
    fn a_call_decodes_bars_headers_and_hides_the_bearer() {
        let target = bars_fhir::headers::TargetIdentifier::dos("2000011111").encode();
        let outcome = r#"{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"conflict","details":{"coding":[{"code":"REC_CONFLICT"}]},"diagnostics":"slot s1 cannot be booked"}]}"#;
        let e = Exchange {
            method: Method::POST,
            url: "https://proxy:8080/Appointment".into(),
            request_headers: vec![
                (
                    "authorization".into(),
                    "Bearer abcdefghijklmnopqrstuvwxyz0123456789".into(),
                ),
                ("nhsd-target-identifier".into(), target),
            ],
            request_body: Some(Bytes::from_static(br#"{"resourceType":"Appointment"}"#)),
            response: Ok(ClientResponse {
                status: StatusCode::CONFLICT,
                headers: HeaderMap::new(),
                body: Bytes::from(outcome),
            }),
            started: SystemTime::now(),
            elapsed: Duration::from_millis(3),
        };
        let s = show(&e);
        assert_eq!(s.path, "/Appointment");
        let everything = format!("{s:?}");
        assert!(!everything.contains("qrstuvwxyz0123456789"), "{everything}");
        let target = s
            .headers
            .iter()
            .find(|h| h.name == "nhsd-target-identifier")
            .unwrap();
        assert!(target.decoded.as_deref().unwrap().contains("2000011111"));
        let outcome = s.response.unwrap().outcome.unwrap();
        assert_eq!(outcome.summary.coding_code.as_deref(), Some("REC_CONFLICT"));
        assert!(outcome.explanation.contains("slot has just been taken"));
        assert!(s.curl.contains("\"$BARS_TOKEN\"") && s.curl.contains("--data-binary"));
        assert!(s.curl.starts_with("curl --cacert"));
    }

    #[test]
    fn a_plain_http_admin_call_needs_no_ca_and_hides_the_admin_token() {
        let e = Exchange {
            method: Method::POST,
            url: "http://127.0.0.1:8085/admin/appointments/a1/arrived".into(),
            request_headers: vec![(
                "authorization".into(),
                "Bearer admin-token-abcdefghijklmnop".into(),
            )],
            request_body: None,
            response: Err("connection refused".into()),
            started: SystemTime::now(),
            elapsed: Duration::from_millis(1),
        };
        let s = show(&e);
        assert!(s.curl.starts_with("curl -X POST"), "{}", s.curl);
        assert!(!format!("{s:?}").contains("abcdefghijklmnop"));
    }
}
