//! Retries: repeated exactly, with the same ids, and never after a 409 duplicate (BaRS 4.6).

use serde_json::Value;

use super::{Graded, correlation_id, describe, request_id, same_request, skip, verdict};
use crate::sender::session::{Session, answer_code, asks_for_retry};

pub(super) fn retries_keep_ids(s: &Session) -> Graded {
    let mut asked = 0;
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for (i, r) in s.api.iter().enumerate() {
        if !asks_for_retry(r) {
            continue;
        }
        asked += 1;
        let Some(next) = s.api[i + 1..].iter().find(|n| same_request(r, n)) else {
            continue;
        };
        seen.push(next);
        if request_id(r) != request_id(next) || correlation_id(r) != correlation_id(next) {
            offences.push((
                format!(
                    "{} repeats {} (answered {}) under new ids",
                    describe(next),
                    describe(r),
                    r.status
                ),
                vec![r, next],
            ));
        }
    }
    if asked == 0 {
        return skip(
            "no answer asked for a retry: send any request to service 2000081230 (always 408) to rehearse",
        );
    }
    if seen.is_empty() {
        return skip(format!(
            "{asked} answers asked for a retry and the sender repeated none of them"
        ));
    }
    verdict(s, &seen, offences, "retries")
}

/// Whether a 409 duplicate was retried (it means the first attempt succeeded).
pub(super) fn duplicate_not_retried(s: &Session) -> Graded {
    let mut seen = Vec::new();
    let mut offences = Vec::new();
    for (i, r) in s.api.iter().enumerate() {
        if !(r.status == 409 && answer_code(r).as_deref() == Some("REC_CONFLICT"))
            || r.response_json()
                .and_then(|v| {
                    v.pointer("/issue/0/code")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .as_deref()
                != Some("duplicate")
        {
            continue;
        }
        seen.push(r);
        if let Some(next) = s.api[i + 1..]
            .iter()
            .find(|n| same_request(r, n) && request_id(n) == request_id(r))
        {
            offences.push((
                format!(
                    "{} sends again what {} was told was a duplicate",
                    describe(next),
                    describe(r)
                ),
                vec![r, next],
            ));
        }
    }
    if seen.is_empty() {
        return skip("no answer was 409 duplicate: a retry after a lost answer produces one");
    }
    verdict(s, &seen, offences, "duplicate answers")
}
