//! A sender's session as the checks see it: its token requests and its API requests in the
//! order they reached the proxy, each API request classified by what it does to which
//! appointment or slot, and each turned into redacted evidence on demand.

use std::collections::HashMap;

use http::Method;
use serde_json::Value;

use super::jwt;
use super::record::Recorded;
use crate::wire::{Exchange, evidence_body, redact_header};

/// What an API request does, as far as the sender's obligations care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `GET /Slot` at a service.
    SlotSearch,
    /// `GET /Appointment/{id}`.
    Read {
        id: String,
    },
    /// A new booking (`POST /Appointment`, or a `$process-message` with reason `new`): the
    /// slots it books and the appointments it replaces.
    Book {
        slots: Vec<String>,
        replaces: Vec<String>,
    },
    /// A change to an existing appointment (PUT, PATCH, DELETE, or a message with reason
    /// `update`/`delete`), and the slots it names.
    Change {
        id: String,
        slots: Vec<String>,
    },
    Other,
}

/// The id at the end of a reference (`Slot/<id>`, `https://.../Slot/<id>`, `urn:uuid:<id>`).
pub fn reference_id(reference: &str) -> String {
    let r = reference.trim();
    r.strip_prefix("urn:uuid:")
        .unwrap_or_else(|| r.rsplit('/').next().unwrap_or(r))
        .to_string()
}

fn references(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["reference"].as_str())
        .map(reference_id)
        .collect()
}

/// The slots a PATCH names: JSON Patch values, a FHIRPath Patch's parts, or a partial
/// Appointment.
fn patched_slots(body: &Value) -> Vec<String> {
    let mut slots = Vec::new();
    collect_slot_references(body, &mut slots);
    slots
}

fn collect_slot_references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(r) = map.get("reference").and_then(Value::as_str)
                && (r.contains("Slot/") || r.starts_with("urn:uuid:"))
            {
                out.push(reference_id(r));
            }
            map.values().for_each(|v| collect_slot_references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_slot_references(v, out)),
        Value::String(s) if s.starts_with("Slot/") => out.push(reference_id(s)),
        _ => {}
    }
}

fn message_action(bundle: &Value) -> Action {
    let entries: Vec<&Value> = bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|e| &e["resource"]).collect())
        .unwrap_or_default();
    let of = |kind: &str| entries.iter().copied().find(|r| r["resourceType"] == kind);
    let reason = of("MessageHeader")
        .and_then(|h| h["reason"]["coding"].as_array())
        .and_then(|c| c.iter().find_map(|c| c["code"].as_str()))
        .unwrap_or("");
    let Some(appointment) = of("Appointment") else {
        return Action::Other;
    };
    let slots: Vec<String> = entries
        .iter()
        .filter(|r| r["resourceType"] == "Slot")
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    match (reason, appointment["id"].as_str()) {
        ("new", _) => Action::Book {
            slots,
            replaces: references(&appointment["replaces"]),
        },
        ("update" | "delete", Some(id)) => Action::Change {
            id: id.to_string(),
            slots,
        },
        _ => Action::Other,
    }
}

/// Classifies one API request.
pub fn action(r: &Recorded) -> Action {
    let route = r.route();
    let id = route
        .strip_prefix("/Appointment/")
        .filter(|rest| !rest.is_empty() && !rest.contains('/'))
        .map(str::to_string);
    let body = r.json().unwrap_or(Value::Null);
    match (&r.method, route, id) {
        (&Method::GET, "/Slot", _) => Action::SlotSearch,
        (&Method::GET, _, Some(id)) => Action::Read { id },
        (&Method::POST, "/Appointment", _) => Action::Book {
            slots: references(&body["slot"]),
            replaces: references(&body["replaces"]),
        },
        (&Method::POST, "/$process-message", _) => message_action(&body),
        (&Method::PUT, _, Some(id)) => Action::Change {
            id,
            slots: references(&body["slot"]),
        },
        (&Method::PATCH, _, Some(id)) => Action::Change {
            id,
            slots: patched_slots(&body),
        },
        (&Method::DELETE, _, Some(id)) => Action::Change {
            id,
            slots: Vec::new(),
        },
        _ => Action::Other,
    }
}

/// Whether an answer asks the sender to try again unchanged (BaRS 4.6): a timeout, too early,
/// too many requests, unavailable, a gateway failure, or a 500 without an OperationOutcome.
pub fn asks_for_retry(r: &Recorded) -> bool {
    match r.status {
        408 | 425 | 429 | 502 | 503 | 504 => true,
        500 => r
            .response_json()
            .is_none_or(|v| v["resourceType"] != "OperationOutcome"),
        _ => false,
    }
}

/// The BaRS code of an OperationOutcome answer.
pub fn answer_code(r: &Recorded) -> Option<String> {
    r.response_json()?
        .pointer("/issue/0/details/coding/0/code")?
        .as_str()
        .map(str::to_string)
}

pub struct Session {
    /// Token requests, in order.
    pub tokens: Vec<Recorded>,
    /// API requests (everything else), in order.
    pub api: Vec<Recorded>,
    /// The token endpoint's URL (a client assertion's audience).
    pub token_url: String,
    /// Exchanges not recorded (the session outgrew the recorder).
    pub dropped: usize,
    /// Access token -> its number in the session (1, 2, ...): evidence names tokens by it.
    token_numbers: HashMap<String, usize>,
}

impl Session {
    pub fn new(recorded: Vec<Recorded>, token_url: &str, dropped: usize) -> Session {
        let (tokens, api): (Vec<Recorded>, Vec<Recorded>) =
            recorded.into_iter().partition(Recorded::is_token_request);
        let mut token_numbers = HashMap::new();
        for t in &tokens {
            if let Some(token) = t
                .response_json()
                .and_then(|v| v["access_token"].as_str().map(str::to_string))
            {
                let n = token_numbers.len() + 1;
                token_numbers.entry(token).or_insert(n);
            }
        }
        Session {
            tokens,
            api,
            token_url: token_url.to_string(),
            dropped,
            token_numbers,
        }
    }

    /// The evidence of one exchange: secrets redacted, the bearer named by its number.
    pub fn exchange(&self, r: &Recorded) -> Exchange {
        let request_headers = r
            .headers
            .iter()
            .map(|(k, v)| {
                let v = v.to_str().unwrap_or("[not text]");
                let shown = if k.as_str() == "authorization" {
                    match r.bearer().and_then(|t| self.token_numbers.get(t)) {
                        Some(n) => format!("Bearer [redacted: token {n}]"),
                        None => redact_header(k.as_str(), v),
                    }
                } else {
                    redact_header(k.as_str(), v)
                };
                (k.to_string(), shown)
            })
            .collect();
        let request_body = if r.body.is_empty() {
            None
        } else if r.is_token_request() {
            Some(jwt::redacted_form(&r.body))
        } else {
            evidence_body(&r.body)
        };
        let mut response_body = evidence_body(&r.response_body);
        if r.is_token_request()
            && let Some(n) = r
                .response_json()
                .and_then(|v| v["access_token"].as_str().map(str::to_string))
                .and_then(|t| self.token_numbers.get(&t))
        {
            response_body = response_body.map(|b| format!("{b} (token {n})"));
        }
        Exchange {
            method: r.method.to_string(),
            url: r.path.clone(),
            request_headers,
            request_body,
            status: Some(r.status),
            response_headers: r
                .response_headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        redact_header(k.as_str(), v.to_str().unwrap_or("[not text]")),
                    )
                })
                .collect(),
            response_body,
            error: None,
        }
    }

    pub fn evidence<'a>(&self, rs: impl IntoIterator<Item = &'a Recorded>) -> Vec<Exchange> {
        rs.into_iter().map(|r| self.exchange(r)).collect()
    }
}
