//! The gate in front of every role's admin API: a bearer token, compared in constant time,
//! when one is configured. Admin listeners are for operators and staff, never senders.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header;

use crate::error::ApiError;
use crate::transport::apply_security_headers;

#[derive(Clone)]
pub struct AdminGate {
    pub token: Option<Arc<String>>,
    /// The role's refusal (its own error code for "unauthorised").
    pub refusal: fn() -> ApiError,
}

impl AdminGate {
    pub fn new(token: Option<String>, refusal: fn() -> ApiError) -> Self {
        AdminGate {
            token: token.map(Arc::new),
            refusal,
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: refuses requests without the admin token; adds the security headers.
pub async fn admin_gate(State(gate): State<AdminGate>, request: Request, next: Next) -> Response {
    if let Some(expected) = &gate.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| constant_time_eq(g.as_bytes(), expected.as_bytes())) {
            let mut refused = (gate.refusal)().into_response();
            apply_security_headers(refused.headers_mut());
            return refused;
        }
    }
    let mut response = next.run(request).await;
    apply_security_headers(response.headers_mut());
    response
}
