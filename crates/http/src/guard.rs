//! Every handler runs as its own task: a panic becomes a 500 OperationOutcome instead of a
//! dropped connection, and (optionally) a request not answered in time gets a timeout outcome.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;

use crate::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct Guard {
    /// Answer with `timeout_code` when the handler has not finished in this time. The handler
    /// itself runs on: a write still completes, and its retry meets the idempotency rules.
    pub timeout: Option<Duration>,
    pub timeout_code: BarsCode,
    /// The code for a handler that panicked.
    pub panic_code: BarsCode,
}

pub async fn guard(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let task = tokio::spawn(next.run(request));
    let finished = match guard.timeout {
        Some(limit) => match tokio::time::timeout(limit, task).await {
            Ok(done) => done,
            Err(_) => {
                return ApiError::bars(
                    guard.timeout_code,
                    IssueType::Timeout,
                    format!(
                        "the request was not processed within {} ms",
                        limit.as_millis()
                    ),
                )
                .into_response();
            }
        },
        None => task.await,
    };
    match finished {
        Ok(response) => response,
        Err(e) => {
            tracing::error!(panic = e.is_panic(), "request handler failed");
            ApiError::bars(
                guard.panic_code,
                IssueType::Exception,
                "the server hit an unexpected error",
            )
            .into_response()
        }
    }
}
