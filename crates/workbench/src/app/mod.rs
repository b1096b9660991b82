//! The routes: each page action is one SDK workflow run as a journal action ([`reads`] for the
//! pages that only read, [`changes`] for form posts), its result rendered by [`crate::pages`].

mod changes;
mod clinic;
mod reads;
mod respond;
mod state;

use std::sync::Arc;

use axum::response::Response;
use axum::routing::{get, post};
use axum::{Router, middleware};
use http::{HeaderValue, header};

pub use state::App;

use crate::access::{self, AccessSecret};
use crate::assets;

pub fn router(app: Arc<App>, secret: Option<AccessSecret>) -> Router {
    Router::new()
        .route("/", get(reads::directory))
        .route("/services/{service}/week", get(reads::week))
        .route(
            "/services/{service}/book",
            get(changes::book_form).post(changes::book),
        )
        .route("/patients", get(reads::patient))
        .route(
            "/services/{service}/appointments/{id}",
            get(reads::appointment),
        )
        .route(
            "/services/{service}/appointments/{id}/update",
            post(changes::update),
        )
        .route(
            "/services/{service}/appointments/{id}/reschedule",
            post(changes::reschedule),
        )
        .route(
            "/services/{service}/appointments/{id}/cancel",
            post(changes::cancel),
        )
        .route(
            "/services/{service}/appointments/{id}/rebook",
            post(changes::rebook),
        )
        .route("/inspector", get(reads::inspector))
        .route("/inspector/{action}", get(reads::inspector_action))
        .route("/clinic", get(clinic::overview))
        .route("/clinic/day", get(clinic::day))
        .route("/clinic/appointments/{id}", post(clinic::staff))
        .route("/assets/{file}", get(assets::serve))
        .fallback(respond::not_found)
        .with_state(app)
        .layer(middleware::from_fn_with_state(secret, access::guard))
        .layer(middleware::map_response(security_headers))
}

/// Pages load only their own files: no inline script, nothing from another origin. The
/// referrer policy keeps `Origin` on the workbench's own form posts (`no-referrer` would make it
/// `null`, which the cross-site check refuses).
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
