//! The Base64-encoded JSON headers BaRS senders attach to every request.
//!
//! `NHSD-Target-Identifier` routes a request; `NHSD-End-User-Organisation`,
//! `NHSD-Requesting-Software` and `NHSD-Requesting-Practitioner` describe who is asking so the
//! receiver can authorise and audit. All are standard Base64 of UTF-8 JSON. Parsing is lenient
//! about shapes (the official software example writes `deviceName` as an object, not an array)
//! because a receiver must never refuse a request over a cosmetic difference in these headers.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::Value;

pub const ODS_SYSTEM: &str = "https://fhir.nhs.uk/Id/ods-organization-code";
pub const DOS_SERVICE_SYSTEM: &str = "https://fhir.nhs.uk/Id/dos-service-id";
/// Header values longer than this are refused before decoding; real ones are a few hundred bytes.
pub const MAX_HEADER_JSON_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderDecodeError {
    #[error("the header is not valid Base64")]
    Base64,
    #[error("the decoded header is not a JSON object")]
    Json,
    #[error("the header lacks a required field")]
    Schema,
    #[error("the header is too long")]
    TooLong,
}

/// Decodes Base64 (standard or URL-safe, padded or not) into a JSON object.
pub fn decode_base64_json(header: &str) -> Result<Value, HeaderDecodeError> {
    let header = header.trim();
    if header.len() > MAX_HEADER_JSON_BYTES * 4 / 3 + 4 {
        return Err(HeaderDecodeError::TooLong);
    }
    let bytes = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(header).ok())
        .ok_or(HeaderDecodeError::Base64)?;
    if bytes.len() > MAX_HEADER_JSON_BYTES {
        return Err(HeaderDecodeError::TooLong);
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| HeaderDecodeError::Json)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(HeaderDecodeError::Json)
    }
}

/// Decodes Base64 JSON, or failing that raw JSON (the IG's own curl example sends it unencoded).
pub fn decode_lenient_json(header: &str) -> Result<Value, HeaderDecodeError> {
    match decode_base64_json(header) {
        Ok(v) => Ok(v),
        Err(HeaderDecodeError::TooLong) => Err(HeaderDecodeError::TooLong),
        Err(first) => {
            let trimmed = header.trim();
            // The same limit as for the decoded Base64 form, so whatever is accepted raw can
            // also be passed on encoded.
            if trimmed.len() > MAX_HEADER_JSON_BYTES {
                return Err(HeaderDecodeError::TooLong);
            }
            if trimmed.starts_with('{') {
                match serde_json::from_str::<Value>(trimmed) {
                    Ok(v) if v.is_object() => Ok(v),
                    _ => Err(first),
                }
            } else {
                Err(first)
            }
        }
    }
}

pub fn encode_base64_json(value: &Value) -> String {
    STANDARD.encode(value.to_string())
}

/// The service a request is for: `{"system": ..., "value": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetIdentifier {
    pub system: String,
    pub value: String,
}

impl TargetIdentifier {
    pub fn new(system: impl Into<String>, value: impl Into<String>) -> Self {
        TargetIdentifier {
            system: system.into(),
            value: value.into(),
        }
    }

    pub fn dos(value: impl Into<String>) -> Self {
        TargetIdentifier::new(DOS_SERVICE_SYSTEM, value)
    }

    pub fn from_json(value: &Value) -> Result<Self, HeaderDecodeError> {
        let system = value
            .get("system")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let val = value
            .get("value")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        match (system, val) {
            (Some(s), Some(v)) => Ok(TargetIdentifier::new(s, v)),
            _ => Err(HeaderDecodeError::Schema),
        }
    }

    /// Strict decoding, as the central proxy does it: Base64 JSON with both keys.
    pub fn decode(header: &str) -> Result<Self, HeaderDecodeError> {
        Self::from_json(&decode_base64_json(header)?)
    }

    /// Lenient decoding for receivers: raw JSON is accepted too.
    pub fn decode_lenient(header: &str) -> Result<Self, HeaderDecodeError> {
        Self::from_json(&decode_lenient_json(header)?)
    }

    pub fn encode(&self) -> String {
        encode_base64_json(&serde_json::json!({ "system": self.system, "value": self.value }))
    }

    /// The URL-friendly `system|value` form used in pointers and on the command line.
    pub fn token(&self) -> String {
        format!("{}|{}", self.system, self.value)
    }

    /// Parses `system|value`; a bare value is taken as a DoS service id.
    pub fn parse_token(text: &str) -> Option<Self> {
        match text.split_once('|') {
            Some((s, v)) if !s.is_empty() && !v.is_empty() => Some(TargetIdentifier::new(s, v)),
            Some(_) => None,
            None if !text.is_empty() => Some(TargetIdentifier::dos(text)),
            None => None,
        }
    }
}

fn first_identifier(
    value: &Value,
    preferred_system: Option<&str>,
) -> (Option<String>, Option<String>) {
    let ids: Vec<&Value> = match value.get("identifier") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(obj @ Value::Object(_)) => vec![obj],
        _ => vec![],
    };
    let pick = preferred_system
        .and_then(|p| {
            ids.iter().find(|i| {
                i.get("system")
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case(p))
            })
        })
        .or_else(|| ids.first());
    match pick {
        Some(id) => (
            id.get("system").and_then(Value::as_str).map(str::to_string),
            id.get("value").and_then(Value::as_str).map(str::to_string),
        ),
        None => (None, None),
    }
}

fn text_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Array(a) => a.iter().find_map(|v| text_of(Some(v))),
        Value::Object(o) => o
            .get("name")
            .or_else(|| o.get("value"))
            .and_then(|v| text_of(Some(v))),
        _ => None,
    }
}

/// `NHSD-End-User-Organisation`: a FHIR Organization with an ODS code and a name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndUserOrganisation {
    pub ods_code: Option<String>,
    pub name: Option<String>,
}

impl EndUserOrganisation {
    pub fn from_json(value: &Value) -> Self {
        let (_, ods) = first_identifier(value, Some(ODS_SYSTEM));
        EndUserOrganisation {
            ods_code: ods,
            name: text_of(value.get("name")),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "resourceType": "Organization",
            "identifier": [{ "system": ODS_SYSTEM, "value": self.ods_code }],
            "name": self.name,
        })
    }
}

/// `NHSD-Requesting-Software`: a FHIR Device naming the sending product and its version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestingSoftware {
    pub id_system: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub version: Option<String>,
}

impl RequestingSoftware {
    pub fn from_json(value: &Value) -> Self {
        let (system, id) = first_identifier(value, None);
        RequestingSoftware {
            id_system: system,
            id,
            name: text_of(value.get("deviceName")),
            version: text_of(value.get("version")),
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "resourceType": "Device",
            "identifier": [{ "system": self.id_system, "value": self.id }],
            "deviceName": { "name": self.name, "type": "manufacturer-name" },
            "version": { "value": self.version },
        })
    }
}

/// `NHSD-Requesting-Practitioner`: a FHIR PractitionerRole (SDS role profile and role codes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestingPractitioner {
    pub role_profile_id: Option<String>,
    pub role_codes: Vec<String>,
}

impl RequestingPractitioner {
    pub fn from_json(value: &Value) -> Self {
        let (_, id) = first_identifier(value, Some("https://fhir.nhs.uk/Id/sds-role-profile-id"));
        let role_codes = value
            .get("code")
            .and_then(Value::as_array)
            .map(|codes| {
                codes
                    .iter()
                    .filter_map(|c| c.get("coding").and_then(Value::as_array))
                    .flatten()
                    .filter_map(|c| c.get("code").and_then(Value::as_str).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        RequestingPractitioner {
            role_profile_id: id,
            role_codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_official_test_target() {
        let t = TargetIdentifier::decode("eyJ2YWx1ZSI6ICJOSFMwMDAxIiwgInN5c3RlbSI6ICJ0ZXN0cyJ9")
            .unwrap();
        assert_eq!(t, TargetIdentifier::new("tests", "NHS0001"));
        assert_eq!(TargetIdentifier::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn raw_and_encoded_headers_share_one_size_limit() {
        // Found by fuzzing: raw JSON of 8.7 KB was accepted, but its Base64 form (which the
        // proxy must send on) was refused as too long.
        let value = "v".repeat(MAX_HEADER_JSON_BYTES);
        let raw = format!(r#"{{"system":"s","value":"{value}"}}"#);
        assert_eq!(
            TargetIdentifier::decode_lenient(&raw),
            Err(HeaderDecodeError::TooLong)
        );
        let fits = format!(r#"{{"system":"s","value":"{}"}}"#, &value[..8000]);
        let target = TargetIdentifier::decode_lenient(&fits).unwrap();
        assert_eq!(TargetIdentifier::decode(&target.encode()).unwrap(), target);
    }

    #[test]
    fn strict_and_lenient_decoding_differ_only_on_raw_json() {
        let raw = r#"{"system":"https://fhir.nhs.uk/Id/dos-service-id","value":"2000099999"}"#;
        assert_eq!(
            TargetIdentifier::decode(raw),
            Err(HeaderDecodeError::Base64)
        );
        assert_eq!(
            TargetIdentifier::decode_lenient(raw).unwrap().value,
            "2000099999"
        );
        assert_eq!(
            TargetIdentifier::decode("!!!"),
            Err(HeaderDecodeError::Base64)
        );
        assert_eq!(
            TargetIdentifier::decode(&STANDARD.encode("[1]")),
            Err(HeaderDecodeError::Json)
        );
        assert_eq!(
            TargetIdentifier::decode(&STANDARD.encode(r#"{"value":"x"}"#)),
            Err(HeaderDecodeError::Schema)
        );
    }

    #[test]
    fn reads_the_access_control_examples() {
        let org = EndUserOrganisation::from_json(
            &serde_json::json!({"resourceType":"Organization","identifier":[{"value":"A1001","system":ODS_SYSTEM}],"name":"My service provider name"}),
        );
        assert_eq!(org.ods_code.as_deref(), Some("A1001"));
        assert_eq!(org.name.as_deref(), Some("My service provider name"));
        let sw = RequestingSoftware::from_json(
            &serde_json::json!({"resourceType":"Device","identifier":[{"system":"https://consumersupplier.com/Id/device-identifier","value":"SUPP-APP-1"}],"deviceName":{"name":"Supplier product name","type":"manufacturer-name"},"version":{"value":"1.0.0"}}),
        );
        assert_eq!(sw.id.as_deref(), Some("SUPP-APP-1"));
        assert_eq!(sw.name.as_deref(), Some("Supplier product name"));
        assert_eq!(sw.version.as_deref(), Some("1.0.0"));
        let pr = RequestingPractitioner::from_json(
            &serde_json::json!({"resourceType":"PractitionerRole","identifier":[{"system":"https://fhir.nhs.uk/Id/sds-role-profile-id","value":"100334993514"}],"code":[{"coding":[{"system":"http://snomed.info/sct","code":"62247001"}]}]}),
        );
        assert_eq!(pr.role_profile_id.as_deref(), Some("100334993514"));
        assert_eq!(pr.role_codes, vec!["62247001".to_string()]);
    }

    #[test]
    fn tokens_round_trip() {
        let t = TargetIdentifier::parse_token("https://fhir.nhs.uk/Id/dos-service-id|2000099999")
            .unwrap();
        assert_eq!(
            t.token(),
            "https://fhir.nhs.uk/Id/dos-service-id|2000099999"
        );
        assert_eq!(TargetIdentifier::parse_token("2000099999").unwrap(), t);
        assert!(TargetIdentifier::parse_token("|x").is_none());
    }
}
