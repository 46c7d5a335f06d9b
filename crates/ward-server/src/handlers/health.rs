//! Liveness with a database round trip, and the Prometheus scrape endpoint.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`: 200 when the database answers within two seconds, 503 otherwise.
pub async fn health(State(app): State<AppState>) -> Response {
    let ping = tokio::time::timeout(PING_TIMEOUT, app.oauth.store().ping()).await;
    let (status, database) = match ping {
        Ok(Ok(())) => (StatusCode::OK, "ok"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "health check: database ping failed");
            (StatusCode::SERVICE_UNAVAILABLE, "unreachable")
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
    };
    let body = json!({ "status": if status == StatusCode::OK { "ok" } else { "unavailable" }, "database": database });
    (status, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], axum::Json(body)).into_response()
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))],
        app.metrics.render(),
    )
        .into_response()
}
