//! The proxy's admin API: the endpoint catalogue and registered sender applications. On its
//! own listener, behind a bearer token when one is configured. Changes go through the
//! [`Directory`](crate::directory::Directory): into the proxy's database when it has one.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::routing::{delete, get};
use bars_fhir::IssueType;
use bars_fhir::codes::BarsCode;
use bars_fhir::headers::TargetIdentifier;
use bars_fhir::search::Query;
use bars_http::ApiError;
use bars_http::admin::{self, AdminRole};
use bars_http::fhir_json::{fhir_json, parse_json_object, read_body};
use http::StatusCode;
use serde_json::json;

use crate::auth::applications::Application;
use crate::catalogue::{CatalogueError, Endpoint};
use crate::directory::DirectoryError;
use crate::epc::errors::store_error;
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

fn not_found() -> ApiError {
    ApiError::bars(
        BarsCode::NotFound,
        IssueType::NotFound,
        "no such admin path",
    )
}

pub fn router(proxy: Arc<ProxyState>, token: Option<String>) -> Router {
    let role = AdminRole {
        role: "proxy",
        metrics: proxy.metrics.http.clone(),
        refused,
        not_found,
    };
    let health = crate::health::routes(&proxy);
    let routes = Router::new()
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
        );
    admin::router(role, token, routes, health, AdminState { proxy })
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

fn directory_error(e: DirectoryError) -> ApiError {
    match e {
        DirectoryError::Catalogue(e @ CatalogueError::Invalid) => {
            ApiError::bars(BarsCode::BadRequest, IssueType::Invalid, e.to_string())
        }
        DirectoryError::Application(e) => {
            ApiError::bars(BarsCode::BadRequest, IssueType::Invalid, e.to_string())
        }
        DirectoryError::Store(e) => store_error(e),
        // The catalogue's own refusals, as the FHIR API gives them (a duplicate target is
        // 409 PROXY_CONFLICT duplicate, delta D23).
        DirectoryError::Refused(e) => e.into_api(),
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
    let endpoint = state
        .proxy
        .directory
        .add_endpoint(endpoint)
        .await
        .map_err(directory_error)?;
    Ok(fhir_json(StatusCode::CREATED, &json!(endpoint)))
}

async fn replace_endpoint(
    State(state): State<AdminState>,
    body: Body,
) -> Result<Response, ApiError> {
    let endpoint: Endpoint = json_body(body).await?;
    let endpoint = state
        .proxy
        .directory
        .replace_endpoint(endpoint)
        .await
        .map_err(directory_error)?;
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
        .directory
        .remove_endpoint(&TargetIdentifier::new(system, value))
        .await
        .map_err(directory_error)?
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
    let client_id = application.client_id.clone();
    state
        .proxy
        .directory
        .put_application(application)
        .await
        .map_err(directory_error)?;
    Ok(fhir_json(
        StatusCode::CREATED,
        &json!({ "client_id": client_id }),
    ))
}

async fn remove_application(
    State(state): State<AdminState>,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    if state
        .proxy
        .directory
        .remove_application(&client_id)
        .await
        .map_err(store_error)?
    {
        Ok(fhir_json(StatusCode::OK, &json!({ "removed": client_id })))
    } else {
        Err(ApiError::bars(
            BarsCode::NotFound,
            IssueType::NotFound,
            "no such application",
        ))
    }
}
