//! Authentication: client assertions well formed and never replayed, access tokens reused
//! (BaRS 1.2, the NHS signed-JWT pattern).

use std::collections::HashMap;

use super::{Graded, MAX_ASSERTION_SECONDS, skip, verdict};
use crate::sender::jwt;
use crate::sender::record::Recorded;
use crate::sender::session::Session;

fn issued(r: &Recorded) -> Option<(String, i64)> {
    let v = r.response_json().filter(|_| r.status == 200)?;
    let token = v["access_token"].as_str()?.to_string();
    let lifetime = v["expires_in"]
        .as_i64()
        .or_else(|| v["expires_in"].as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    Some((token, lifetime))
}

fn seconds_between(a: &Recorded, b: &Recorded) -> i64 {
    b.at.duration_since(a.at)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub(super) fn tokens_reused(s: &Session) -> Graded {
    if s.tokens.is_empty() {
        return skip("the sender never asked the proxy for an access token");
    }
    let mut current: Option<(&Recorded, String, i64)> = None;
    let mut offences = Vec::new();
    for t in &s.tokens {
        if let Some((prev, token, lifetime)) = &current {
            let left = lifetime - seconds_between(prev, t);
            let refused = s
                .api
                .iter()
                .any(|r| r.status == 401 && r.bearer() == Some(token.as_str()) && r.seq < t.seq);
            if left > (lifetime / 4).max(60) && !refused {
                offences.push((
                    format!(
                        "#{} asks for a new token while the one from #{} had {left} s left and was never refused",
                        t.seq, prev.seq
                    ),
                    vec![*prev, t],
                ));
            }
        }
        if let Some((token, lifetime)) = issued(t) {
            current = Some((t, token, lifetime));
        }
    }
    let seen: Vec<&Recorded> = s.tokens.iter().collect();
    verdict(s, &seen, offences, "token requests")
}

/// What is wrong with one token request's form and assertion.
fn assertion_problems(s: &Session, r: &Recorded) -> Vec<String> {
    let mut problems = Vec::new();
    if jwt::form_field(&r.body, "grant_type").as_deref() != Some("client_credentials") {
        problems.push("grant_type is not client_credentials".to_string());
    }
    if jwt::form_field(&r.body, "client_assertion_type").as_deref()
        != Some(bars_client::JWT_BEARER_ASSERTION_TYPE)
    {
        problems.push("client_assertion_type is not jwt-bearer".to_string());
    }
    let Some(assertion) = jwt::form_assertion(&r.body) else {
        problems.push("no client_assertion".to_string());
        return problems;
    };
    let (Some(header), Some(claims)) = (jwt::header(&assertion), jwt::claims(&assertion)) else {
        problems.push("the client_assertion is not a JWT".to_string());
        return problems;
    };
    if !matches!(header["alg"].as_str(), Some("RS512" | "ES256")) {
        problems.push("alg is not RS512 or ES256".to_string());
    }
    if header["kid"].as_str().is_none_or(str::is_empty) {
        problems.push("no kid".to_string());
    }
    let iss = claims["iss"].as_str().unwrap_or("");
    if iss.is_empty() || claims["sub"].as_str() != Some(iss) {
        problems.push("iss and sub are not both the client id".to_string());
    }
    if claims["aud"].as_str() != Some(s.token_url.as_str()) {
        problems.push("aud is not the token endpoint's URL".to_string());
    }
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        problems.push("no jti".to_string());
    }
    let sent =
        r.at.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
    match claims["exp"].as_i64() {
        None => problems.push("no numeric exp".to_string()),
        Some(exp) if exp - sent > MAX_ASSERTION_SECONDS => problems.push(format!(
            "exp is {} s after it was sent (at most {MAX_ASSERTION_SECONDS})",
            exp - sent
        )),
        Some(exp) if exp <= sent => problems.push("it had expired when it was sent".to_string()),
        Some(_) => {}
    }
    problems
}

pub(super) fn assertions_well_formed(s: &Session) -> Graded {
    if s.tokens.is_empty() {
        return skip("the sender never asked the proxy for an access token");
    }
    let offences = s
        .tokens
        .iter()
        .filter_map(|r| {
            let problems = assertion_problems(s, r);
            (!problems.is_empty())
                .then(|| (format!("#{}: {}", r.seq, problems.join(", ")), vec![r]))
        })
        .collect();
    let seen: Vec<&Recorded> = s.tokens.iter().collect();
    verdict(s, &seen, offences, "token requests")
}

pub(super) fn unique_jti(s: &Session) -> Graded {
    if s.tokens.is_empty() {
        return skip("the sender never asked the proxy for an access token");
    }
    let mut first: HashMap<String, &Recorded> = HashMap::new();
    let mut offences = Vec::new();
    for r in &s.tokens {
        let Some(jti) = jwt::form_assertion(&r.body)
            .and_then(|a| jwt::claims(&a))
            .and_then(|c| c["jti"].as_str().map(str::to_string))
        else {
            continue;
        };
        match first.get(&jti) {
            Some(f) => offences.push((
                format!("#{} reuses the jti of #{}", r.seq, f.seq),
                vec![*f, r],
            )),
            None => {
                first.insert(jti, r);
            }
        }
    }
    let seen: Vec<&Recorded> = s.tokens.iter().collect();
    verdict(s, &seen, offences, "token requests")
}
