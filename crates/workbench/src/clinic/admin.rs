//! The clinic pages' calls to a receiver's admin API: the day list, the event feed and staff
//! actions. Each call is told to the journal like the SDK's exchanges, so the inspector shows
//! it (the admin token redacted there, as every bearer token is).

use std::time::SystemTime;

use bars_client::{BarsError, Exchange, Recorder};
use bars_fhir::search::encode_component;
use bars_http::client::HttpClient;
use bytes::Bytes;
use http::Method;
use jiff::civil::Date;
use serde_json::{Value, json};

use super::access::ReceiverAdmin;
use crate::journal::ToCurrentAction;

/// Pages of the day list or the feed read at most for one page view.
const MOST_PAGES: usize = 10;
/// Events per feed request (the admin API's largest page).
const FEED_PAGE: usize = 1000;

pub struct AdminClient {
    pub http: HttpClient,
}

impl AdminClient {
    /// One admin call: the answer's JSON, or the refusal as BaRS would explain it.
    async fn call(
        &self,
        receiver: &ReceiverAdmin,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, BarsError> {
        let url = format!("{}{path}", receiver.url.trim_end_matches('/'));
        let mut headers = vec![("accept", "application/json".to_string())];
        if body.is_some() {
            headers.push(("content-type", "application/json".to_string()));
        }
        if let Some(t) = &receiver.token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        let body = body.map(|b| Bytes::from(b.to_string()));
        let started = SystemTime::now();
        let clock = std::time::Instant::now();
        let answer = self
            .http
            .call(method.clone(), &url, &headers, body.clone())
            .await;
        ToCurrentAction.record(Exchange {
            method,
            url,
            request_headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            request_body: body,
            response: answer.clone().map_err(|e| e.to_string()),
            started,
            elapsed: clock.elapsed(),
        });
        let r = answer.map_err(|e| {
            BarsError::Unreachable(format!("the receiver's admin API at {}: {e}", receiver.url))
        })?;
        if !r.status.is_success() {
            return Err(BarsError::refused(r.status.as_u16(), &r.body));
        }
        serde_json::from_slice(&r.body)
            .map_err(|_| BarsError::Unexpected("the admin API's answer is not JSON".into()))
    }

    /// The service's appointments on `day` (UK wall clock), NHS numbers masked, every page.
    pub async fn day_list(
        &self,
        receiver: &ReceiverAdmin,
        service: &str,
        day: Date,
    ) -> Result<Vec<Value>, BarsError> {
        let query = format!(
            "service={}&date={day}&zone=Europe%2FLondon",
            encode_component(service)
        );
        let mut lines = Vec::new();
        let mut page = query.clone();
        for _ in 0..MOST_PAGES {
            let r = self
                .call(
                    receiver,
                    Method::GET,
                    &format!("/admin/appointments?{page}"),
                    None,
                )
                .await?;
            lines.extend(r["appointments"].as_array().cloned().unwrap_or_default());
            match r["next"].as_str() {
                Some(token) => page = format!("{query}&_page_after={}", encode_component(token)),
                None => break,
            }
        }
        Ok(lines)
    }

    /// The events the service's systems were sent, oldest first (the feed from the start).
    pub async fn events(
        &self,
        receiver: &ReceiverAdmin,
        service: &str,
    ) -> Result<Vec<Value>, BarsError> {
        let mut events = Vec::new();
        let mut after = 0;
        for _ in 0..MOST_PAGES {
            let r = self
                .call(
                    receiver,
                    Method::GET,
                    &format!(
                        "/admin/events?after={after}&service={}&limit={FEED_PAGE}",
                        encode_component(service)
                    ),
                    None,
                )
                .await?;
            let page = r["events"].as_array().cloned().unwrap_or_default();
            let full = page.len() == FEED_PAGE;
            events.extend(page);
            after = r["last"].as_i64().unwrap_or(after);
            if !full {
                break;
            }
        }
        Ok(events)
    }

    /// A staff action on one of the service's appointments; the appointment as now stored.
    pub async fn staff(
        &self,
        receiver: &ReceiverAdmin,
        service: &str,
        appointment: &str,
        action: &str,
        reason: Option<&str>,
    ) -> Result<Value, BarsError> {
        let mut body = json!({ "service": service, "staff": "BaRS workbench (clinic page)" });
        if let Some(r) = reason {
            body["reason"] = json!(r);
        }
        self.call(
            receiver,
            Method::POST,
            &format!(
                "/admin/appointments/{}/{}",
                encode_component(appointment),
                encode_component(action)
            ),
            Some(&body),
        )
        .await
    }
}
