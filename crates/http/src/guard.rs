//! Every handler runs as its own task: a panic becomes a 500 OperationOutcome instead of a
//! dropped connection, and (optionally) a request not answered in time gets a timeout outcome.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use tracing::Instrument;

use crate::error::ApiError;

/// How a role answers for a handler that failed to: each role codes errors its own way.
#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// The time a handler has, if any. The handler itself runs on past it: a write still
    /// completes, and its retry meets the idempotency rules.
    pub deadline: Option<Deadline>,
    /// The answer for a handler that panicked.
    pub panic_error: fn() -> ApiError,
}

/// A handler's time, and the answer sent when it is up.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub after: Duration,
    pub error: fn(Duration) -> ApiError,
}

impl Guard {
    /// A receiver's: `REC_TIMEOUT` (408) for a request not processed within `timeout`,
    /// `REC_SERVER_ERROR` for a handler that panicked.
    pub fn receiver(timeout: Duration) -> Guard {
        Guard {
            deadline: Some(Deadline {
                after: timeout,
                error: |limit| {
                    ApiError::bars(
                        BarsCode::RecTimeout,
                        IssueType::Timeout,
                        format!(
                            "the request was not processed within {} ms",
                            limit.as_millis()
                        ),
                    )
                },
            }),
            panic_error: || {
                ApiError::bars(
                    BarsCode::RecServerError,
                    IssueType::Exception,
                    "the receiver hit an unexpected error",
                )
            },
        }
    }

    /// The proxy's: no deadline of its own (forwarding bounds the wait for a receiver and
    /// answers for one too slow), `SERVER_ERROR` for a handler that panicked, in the words of
    /// the live proxy.
    pub fn proxy() -> Guard {
        Guard {
            deadline: None,
            panic_error: || {
                ApiError::bars(
                    BarsCode::ServerError,
                    IssueType::Exception,
                    "A sub-service encountered an unhandled exception.",
                )
            },
        }
    }
}

pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    // The handler runs as its own task, inside the request's span so its lines carry the ids.
    let task = tokio::spawn(next.run(request).in_current_span());
    let finished = match guard.deadline {
        Some(Deadline { after, error }) => match tokio::time::timeout(after, task).await {
            Ok(done) => done,
            Err(_) => return error(after).into_response(),
        },
        None => task.await,
    };
    match finished {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(panic = e.is_panic(), "request handler failed");
            (guard.panic_error)().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    /// What `guard` answers for a request to `/panic` or `/slow`, as (status, code, diagnostics).
    async fn answer(guard_config: Guard, path: &str) -> (StatusCode, String, String) {
        let app = Router::new()
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("deliberate")
                    }
                }),
            )
            .route("/slow", get(|| tokio::time::sleep(Duration::from_secs(60))))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(guard_config),
                guard,
            ));
        let request = Request::get(path).body(Body::empty()).unwrap();
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let outcome: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let issue = &outcome["issue"][0];
        (
            status,
            issue["details"]["coding"][0]["code"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            issue["diagnostics"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }

    #[tokio::test]
    async fn the_receivers_guard_answers_with_receiver_codes() {
        let receiver = Guard::receiver(Duration::from_millis(20));
        let (status, code, text) = answer(receiver, "/panic").await;
        assert_eq!(
            (status, code.as_str(), text.as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "REC_SERVER_ERROR",
                "the receiver hit an unexpected error"
            )
        );
        let (status, code, text) = answer(receiver, "/slow").await;
        assert_eq!(
            (status, code.as_str(), text.as_str()),
            (
                StatusCode::REQUEST_TIMEOUT,
                "REC_TIMEOUT",
                "the request was not processed within 20 ms"
            )
        );
    }

    #[tokio::test]
    async fn the_proxys_guard_answers_a_panic_as_the_live_proxy_does() {
        let proxy = Guard::proxy();
        assert!(proxy.deadline.is_none());
        let (status, code, text) = answer(proxy, "/panic").await;
        assert_eq!(
            (status, code.as_str(), text.as_str()),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "SERVER_ERROR",
                "A sub-service encountered an unhandled exception."
            )
        );
    }
}
