//! Metadata and keys. Both are public and may be cached briefly: verifiers that meet an
//! unknown `kid` refetch the JWKS, and a new key is published the moment it signs.

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
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")),
            (header::CACHE_CONTROL, PUBLIC_CACHE),
        ],
        ring.jwks_json().to_owned(),
    )
        .into_response()
}
