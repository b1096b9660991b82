//! Talking to the Registry (normally through the proxy): read before every write, If-Match on
//! every change, and answers classified as worth retrying or not.

use std::sync::Arc;

use bars_fhir::headers::{EndUserOrganisation, ODS_SYSTEM, encode_base64_json};
use bars_fhir::nhs_number::NHS_NUMBER_SYSTEM;
use bars_fhir::search::encode_component;
use bars_http::client::{BearerSource, ClientResponse, HttpClient};
use bytes::Bytes;
use http::Method;
use serde_json::Value;

use super::content::{Code, appointment_of};

/// Why a call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// Worth trying again later: no answer, a timeout, 429, 5xx, or a refusal that a fix of
    /// configuration or credentials would cure (401, 403).
    Retry(String),
    /// The Registry rejected what we sent (400, 422): retrying the same thing cannot succeed.
    Permanent(String),
}

/// The outcome of a guarded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Guarded {
    Done,
    /// The pointer no longer exists.
    Missing,
    /// The pointer changed since it was read (412).
    Stale,
}

/// A pointer as read: its id, content and version tag.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub body: Value,
    pub etag: Option<String>,
}

pub struct RegistryClient {
    pub http: HttpClient,
    /// The Registry's base URL (through the proxy in production).
    pub base: String,
    pub ods: String,
    pub organisation_name: String,
    pub auth: Option<Arc<dyn BearerSource>>,
}

fn describe(r: &ClientResponse) -> String {
    let why = r
        .json()
        .and_then(|v| bars_fhir::outcome::summarise(&v))
        .map(|s| {
            format!(
                "{} {}",
                s.coding_code.unwrap_or_default(),
                s.diagnostics.unwrap_or_default()
            )
        });
    format!(
        "the registry answered {}{}",
        r.status,
        why.map(|w| format!(": {}", w.trim())).unwrap_or_default()
    )
}

fn classify(r: &ClientResponse) -> CallError {
    match r.status.as_u16() {
        400 | 422 => CallError::Permanent(describe(r)),
        _ => CallError::Retry(describe(r)),
    }
}

impl RegistryClient {
    async fn call(
        &self,
        method: Method,
        path: &str,
        correlation: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<ClientResponse, CallError> {
        let org = EndUserOrganisation {
            ods_code: Some(self.ods.clone()),
            name: Some(self.organisation_name.clone()),
        };
        let mut headers = vec![
            ("x-request-id", uuid::Uuid::new_v4().to_string()),
            ("x-correlation-id", correlation.to_string()),
            ("accept", "application/fhir+json; version=1.5.0".to_string()),
            (
                "nhsd-end-user-organisation",
                encode_base64_json(&org.to_json()),
            ),
        ];
        if body.is_some() {
            headers.push((
                "content-type",
                "application/fhir+json; version=1.5.0".to_string(),
            ));
        }
        if let Some(tag) = if_match {
            headers.push(("if-match", tag.to_string()));
        }
        if let Some(auth) = &self.auth {
            let token = auth
                .bearer()
                .await
                .map_err(|e| CallError::Retry(format!("no access token: {e}")))?;
            headers.push(("authorization", format!("Bearer {token}")));
        }
        let url = format!("{}{}", self.base.trim_end_matches('/'), path);
        self.http
            .call(
                method,
                &url,
                &headers,
                body.map(|b| Bytes::from(b.to_string())),
            )
            .await
            .map_err(|e| CallError::Retry(format!("the registry could not be reached: {e}")))
    }

    pub async fn get(&self, id: &str, correlation: &str) -> Result<Option<Stored>, CallError> {
        let r = self
            .call(
                Method::GET,
                &format!("/DocumentReference/{}", encode_component(id)),
                correlation,
                None,
                None,
            )
            .await?;
        match r.status.as_u16() {
            200 => Ok(Some(Stored {
                id: id.to_string(),
                etag: r.header("etag").map(str::to_string),
                body: r.json().unwrap_or(Value::Null),
            })),
            404 => Ok(None),
            _ => Err(classify(&r)),
        }
    }

    /// Every pointer this receiver keeps for an appointment, found by searching the patient's
    /// pointers: how a retry after a lost answer finds the pointer its first attempt created.
    pub async fn find(
        &self,
        appointment_id: &str,
        nhs_number: &str,
        type_code: &Code,
        correlation: &str,
    ) -> Result<Vec<Stored>, CallError> {
        let mut found = Vec::new();
        let mut path = format!(
            "/DocumentReference?subject:identifier={}&custodian:identifier={}&type={}",
            encode_component(&format!("{NHS_NUMBER_SYSTEM}|{nhs_number}")),
            encode_component(&format!("{ODS_SYSTEM}|{}", self.ods)),
            encode_component(&type_code.token())
        );
        for _ in 0..50 {
            let r = self
                .call(Method::GET, &path, correlation, None, None)
                .await?;
            if r.status != 200 {
                return Err(classify(&r));
            }
            let bundle = r.json().unwrap_or(Value::Null);
            for entry in bundle["entry"].as_array().into_iter().flatten() {
                let resource = &entry["resource"];
                if appointment_of(resource) == Some(appointment_id)
                    && let Some(id) = resource["id"].as_str()
                {
                    let etag = resource
                        .pointer("/meta/versionId")
                        .and_then(Value::as_str)
                        .map(|v| format!("W/\"{v}\""));
                    found.push(Stored {
                        id: id.to_string(),
                        body: resource.clone(),
                        etag,
                    });
                }
            }
            let next = bundle["link"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|l| l["relation"] == "next")
                .and_then(|l| l["url"].as_str());
            match next.and_then(|url| {
                url.find("/DocumentReference?")
                    .map(|i| url[i..].to_string())
            }) {
                Some(p) => path = p,
                None => break,
            }
        }
        Ok(found)
    }

    /// Creates a pointer; returns its id.
    pub async fn create(&self, pointer: &Value, correlation: &str) -> Result<String, CallError> {
        let r = self
            .call(
                Method::POST,
                "/DocumentReference",
                correlation,
                Some(pointer),
                None,
            )
            .await?;
        if r.status != 201 && r.status != 200 {
            return Err(classify(&r));
        }
        r.header("location")
            .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
            .map(str::to_string)
            .ok_or_else(|| {
                CallError::Retry("the registry created a pointer but did not say where".into())
            })
    }

    pub async fn update(
        &self,
        id: &str,
        pointer: &Value,
        etag: Option<&str>,
        correlation: &str,
    ) -> Result<Guarded, CallError> {
        let mut body = pointer.clone();
        body["id"] = Value::String(id.to_string());
        let r = self
            .call(
                Method::PUT,
                &format!("/DocumentReference/{}", encode_component(id)),
                correlation,
                Some(&body),
                etag,
            )
            .await?;
        guarded(&r)
    }

    pub async fn delete(
        &self,
        id: &str,
        etag: Option<&str>,
        correlation: &str,
    ) -> Result<Guarded, CallError> {
        let r = self
            .call(
                Method::DELETE,
                &format!("/DocumentReference/{}", encode_component(id)),
                correlation,
                None,
                etag,
            )
            .await?;
        guarded(&r)
    }
}

fn guarded(r: &ClientResponse) -> Result<Guarded, CallError> {
    match r.status.as_u16() {
        200 | 204 => Ok(Guarded::Done),
        404 => Ok(Guarded::Missing),
        412 => Ok(Guarded::Stale),
        _ => Err(classify(r)),
    }
}
