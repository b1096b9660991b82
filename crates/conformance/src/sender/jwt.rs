//! Reading what a sender posted to the token endpoint: the form's fields and its client
//! assertion's header and claims. Nothing here verifies a signature (the proxy does that and
//! its answer is part of the record): the kit grades the shape a sender gave its assertion.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// A field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k) == name).then(|| decode(v))
    })
}

fn decode(text: &str) -> String {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// The client assertion of a token request.
pub fn form_assertion(body: &[u8]) -> Option<String> {
    form_field(body, "client_assertion")
}

fn part(jwt: &str, index: usize) -> Option<Value> {
    let text = jwt.trim().split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
}

/// The JOSE header of a compact JWS.
pub fn header(jwt: &str) -> Option<Value> {
    part(jwt, 0)
}

/// The claims of a compact JWS.
pub fn claims(jwt: &str) -> Option<Value> {
    part(jwt, 1)
}

/// A token request's body as evidence: the assertion replaced by its decoded header and claims
/// (the signature never shown: within its lifetime an assertion is a credential).
pub fn redacted_form(body: &[u8]) -> String {
    let Ok(text) = std::str::from_utf8(body) else {
        return format!("[{} bytes, not UTF-8]", body.len());
    };
    text.split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if decode(k) == "client_assertion" {
                let jwt = decode(v);
                match (header(&jwt), claims(&jwt)) {
                    (Some(h), Some(c)) => {
                        format!("client_assertion=[redacted; header {h}, claims {c}]")
                    }
                    _ => "client_assertion=[redacted; not a JWT]".to_string(),
                }
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn reads_the_form_and_the_assertion_without_showing_it() {
        let assertion = jwt(
            r#"{"alg":"ES256","kid":"k1"}"#,
            r#"{"iss":"app","jti":"j"}"#,
        );
        let body = format!(
            "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={assertion}"
        );
        assert_eq!(
            form_field(body.as_bytes(), "client_assertion_type").as_deref(),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        let a = form_assertion(body.as_bytes()).unwrap_or_default();
        assert_eq!(header(&a).unwrap_or_default()["kid"], "k1");
        assert_eq!(claims(&a).unwrap_or_default()["iss"], "app");
        let shown = redacted_form(body.as_bytes());
        assert!(
            !shown.contains("c2ln") && !shown.contains(&assertion),
            "{shown}"
        );
        assert!(shown.contains("\"jti\":\"j\""), "{shown}");
    }
}
