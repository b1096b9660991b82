//! The proxy's admin API: the endpoint catalogue and registered sender applications. On its
//! own listener, behind a bearer token when one is configured.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::middleware;
use axum::response::Response;
use axum::routing::{delete, get};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::search::Query;
use bars_http::ApiError;
use bars_http::admin::{AdminGate, admin_gate};
use bars_http::fhir_json::{fhir_json, parse_json_object, read_body};
use bars_http::observe::{Observer, observe};
use http::StatusCode;
use serde_json::json;

use crate::auth::applications::Application;
use crate::catalogue::{CatalogueError, Endpoint};
use crate::state::ProxyState;

#[derive(Clone)]
struct AdminState {
    proxy: Arc<ProxyState>,
}

fn refused() -> ApiError {
    ApiError::bars(
        BarsCode::SendUnauthorized,
        IssueType::Security,
        "the admin API needs the admin bearer token",
    )
}

pub fn router(proxy: Arc<ProxyState>, token: Option<String>) -> Router {
    let observer = Observer::new("proxy", "admin", proxy.metrics.http.clone());
    let health = crate::health::routes(&proxy);
    let state = AdminState { proxy };
    Router::new()
        .route("/metrics", get(metrics))
        .route(
            "/admin/endpoints",
            get(list_endpoints)
                .post(add_endpoint)
                .put(replace_endpoint)
                .delete(remove_endpoint),
        )
        .route(
            "/admin/applications",
            get(list_applications).post(put_application),
        )
        .route(
            "/admin/applications/{client_id}",
            delete(remove_application),
        )
        .fallback(|| async {
            ApiError::bars(
                BarsCode::NotFound,
                IssueType::NotFound,
                "no such admin path",
            )
        })
        .layer(middleware::from_fn_with_state(
            AdminGate::new(token, refused),
            admin_gate,
        ))
        .merge(health)
        .layer(middleware::from_fn_with_state(Arc::new(observer), observe))
        .with_state(state)
}

/// Prometheus text for the proxy's operators.
async fn metrics(State(state): State<AdminState>) -> Response {
    let text = state.proxy.metrics.render(&state.proxy.auth.metrics);
    let mut response = Response::new(Body::from(text));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(bars_http::metrics::CONTENT_TYPE),
    );
    response
}

async fn json_body<T: serde::de::DeserializeOwned>(body: Body) -> Result<T, ApiError> {
    let bytes = read_body(body, 1024 * 1024, BarsCode::BadRequest).await?;
    let value = parse_json_object(&bytes, BarsCode::BadRequest)?;
    serde_json::from_value(value).map_err(|e| {
        ApiError::bars(
            BarsCode::BadRequest,
            IssueType::Structure,
            format!("the body does not describe one: {e}"),
        )
    })
}

fn catalogue_error(e: CatalogueError) -> ApiError {
    match e {
        // The BaRS example for an Endpoint Catalogue duplicate: 409, BAD_REQUEST, duplicate.
        CatalogueError::Duplicate(_) => {
            ApiError::bars(BarsCode::BadRequest, IssueType::Duplicate, e.to_string())
                .with_status(StatusCode::CONFLICT)
        }
        CatalogueError::Invalid => {
            ApiError::bars(BarsCode::BadRequest, IssueType::Invalid, e.to_string())
        }
    }
}

async fn list_endpoints(State(state): State<AdminState>) -> Response {
    fhir_json(
        StatusCode::OK,
        &json!({ "endpoints": state.proxy.catalogue.list() }),
    )
}

async fn add_endpoint(State(state): State<AdminState>, body: Body) -> Result<Response, ApiError> {
    let endpoint: Endpoint = json_body(body).await?;
    state
        .proxy
        .catalogue
        .add(endpoint.clone())
        .map_err(catalogue_error)?;
    Ok(fhir_json(StatusCode::CREATED, &json!(endpoint)))
}

async fn replace_endpoint(
    State(state): State<AdminState>,
    body: Body,
) -> Result<Response, ApiError> {
    let endpoint: Endpoint = json_body(body).await?;
    state
        .proxy
        .catalogue
        .replace(endpoint.clone())
        .map_err(catalogue_error)?;
    Ok(fhir_json(StatusCode::OK, &json!(endpoint)))
}

/// `?system=...&value=...`
async fn remove_endpoint(
    State(state): State<AdminState>,
    request: Request,
) -> Result<Response, ApiError> {
    let q = Query::parse(request.uri().query())
        .map_err(|e| ApiError::bars(BarsCode::BadRequest, IssueType::Value, e.to_string()))?;
    let (Some(system), Some(value)) = (q.first(&["system"]), q.first(&["value"])) else {
        return Err(ApiError::bars(
            BarsCode::BadRequest,
            IssueType::Required,
            "give the endpoint's system and value",
        ));
    };
    if state
        .proxy
        .catalogue
        .remove(&TargetIdentifier::new(system, value))
    {
        Ok(fhir_json(
            StatusCode::OK,
            &json!({ "removed": { "system": system, "value": value } }),
        ))
    } else {
        Err(ApiError::bars(
            BarsCode::NotFound,
            IssueType::NotFound,
            "no such endpoint",
        ))
    }
}

async fn list_applications(State(state): State<AdminState>) -> Response {
    fhir_json(
        StatusCode::OK,
        &json!({ "applications": state.proxy.auth.applications.list() }),
    )
}

async fn put_application(
    State(state): State<AdminState>,
    body: Body,
) -> Result<Response, ApiError> {
    let application: Application = json_body(body).await?;
    state
        .proxy
        .auth
        .applications
        .add(application.clone())
        .map_err(|e| ApiError::bars(BarsCode::BadRequest, IssueType::Invalid, e.to_string()))?;
    Ok(fhir_json(
        StatusCode::CREATED,
        &json!({ "client_id": application.client_id }),
    ))
}

async fn remove_application(
    State(state): State<AdminState>,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    if state.proxy.auth.applications.remove(&client_id) {
        Ok(fhir_json(StatusCode::OK, &json!({ "removed": client_id })))
    } else {
        Err(ApiError::bars(
            BarsCode::NotFound,
            IssueType::NotFound,
            "no such application",
        ))
    }
}
