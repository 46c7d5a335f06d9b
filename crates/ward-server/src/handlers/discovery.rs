//! Metadata and keys. Both are public and may be cached: the JWKS for half the time a new key
//! is published before it signs (at most five minutes), so a cached copy always holds the
//! signing key.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

const PUBLIC_CACHE: HeaderValue = HeaderValue::from_static("public, max-age=300");

pub async fn metadata(State(app): State<AppState>) -> Response {
    match app.oauth.metadata().await {
        Ok(doc) => ([(header::CACHE_CONTROL, PUBLIC_CACHE)], axum::Json(doc)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "reading scopes for the metadata document");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

pub async fn jwks(State(app): State<AppState>) -> Response {
    let ring = app.oauth.keyring();
    let max_age = app.oauth.settings().jwks_max_age().as_secs();
    let cache = HeaderValue::from_str(&format!("public, max-age={max_age}")).unwrap_or(PUBLIC_CACHE);
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")), (header::CACHE_CONTROL, cache)],
        ring.jwks_json(app.oauth.clock().now()),
    )
        .into_response()
}
