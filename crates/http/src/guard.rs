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
    /// Answer with `timeout_error` when the handler has not finished in this time. The handler
    /// itself runs on: a write still completes, and its retry meets the idempotency rules.
    pub timeout: Option<Duration>,
    pub timeout_error: fn(Duration) -> ApiError,
    /// The answer for a handler that panicked.
    pub panic_error: fn() -> ApiError,
}

impl Guard {
    /// With BaRS codes: `timeout` for requests not processed in time, `panic` for bugs.
    pub fn bars(timeout: Option<Duration>, panic: BarsCode) -> Guard {
        fn timed_out(limit: Duration) -> ApiError {
            ApiError::bars(
                BarsCode::RecTimeout,
                IssueType::Timeout,
                format!(
                    "the request was not processed within {} ms",
                    limit.as_millis()
                ),
            )
        }
        let panic_error: fn() -> ApiError = match panic {
            BarsCode::RecServerError => || {
                ApiError::bars(
                    BarsCode::RecServerError,
                    IssueType::Exception,
                    "the receiver hit an unexpected error",
                )
            },
            _ => || {
                ApiError::bars(
                    BarsCode::ServerError,
                    IssueType::Exception,
                    "A sub-service encountered an unhandled exception.",
                )
            },
        };
        Guard {
            timeout,
            timeout_error: timed_out,
            panic_error,
        }
    }
}

pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    // The handler runs as its own task, inside the request's span so its lines carry the ids.
    let task = tokio::spawn(next.run(request).in_current_span());
    let finished = match guard.timeout {
        Some(limit) => match tokio::time::timeout(limit, task).await {
            Ok(done) => done,
            Err(_) => return (guard.timeout_error)(limit).into_response(),
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
