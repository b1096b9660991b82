//! The workbench's own style sheet and script, built into the binary: pages load nothing from
//! anywhere else.

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

const STYLE: &str = include_str!("../assets/workbench.css");
const SCRIPT: &str = include_str!("../assets/workbench.js");

pub async fn serve(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "workbench.css" => ("text/css; charset=utf-8", STYLE),
        "workbench.js" => ("text/javascript; charset=utf-8", SCRIPT),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
