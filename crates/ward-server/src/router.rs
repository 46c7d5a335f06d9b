//! Every route Ward serves, in one place.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use ward_oauth::discovery::{INTROSPECT_PATH, JWKS_PATH, OAUTH_METADATA_PATH, REVOKE_PATH, TOKEN_PATH};

use crate::handlers::{discovery, health, oauth};
use crate::state::AppState;
use crate::telemetry;

pub struct RouterLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub access_log: bool,
}

pub fn router(state: AppState, limits: &RouterLimits) -> Router {
    Router::new()
        .route(TOKEN_PATH, post(oauth::token))
        .route(INTROSPECT_PATH, post(oauth::introspect))
        .route(REVOKE_PATH, post(oauth::revoke))
        .route(OAUTH_METADATA_PATH, get(discovery::metadata))
        .route(JWKS_PATH, get(discovery::jwks))
        .route("/health", get(health::health))
        .route("/metrics", get(health::metrics))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, limits.request_timeout))
        .layer(axum::middleware::from_fn_with_state(limits.access_log, telemetry::access_log))
        .with_state(state)
}

/// For a node without the issuer: liveness and metrics only.
pub fn ops_router(metrics: metrics_exporter_prometheus::PrometheusHandle) -> Router {
    let render = move || {
        let metrics = metrics.clone();
        async move { ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render()) }
    };
    Router::new()
        .route("/health", get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }))
        .route("/metrics", get(render))
}
