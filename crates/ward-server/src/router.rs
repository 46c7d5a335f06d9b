//! Every route Ward serves, in one place.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use tower_http::timeout::TimeoutLayer;
use ward_oauth::device::DEVICE_PATH;
use ward_oauth::discovery::{
    AUTHORIZE_PATH, DEVICE_AUTHORIZATION_PATH, END_SESSION_PATH, INTROSPECT_PATH, JWKS_PATH, OAUTH_METADATA_PATH,
    OPENID_METADATA_PATH, PAR_PATH, REVOKE_PATH, TOKEN_PATH, TOKENINFO_PATH, USERINFO_PATH,
};

use crate::handlers::{account, authorize, device, discovery, health, oauth, oidc, pages};
use crate::state::AppState;
use crate::telemetry;

pub struct RouterLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub access_log: bool,
}

pub fn router(state: AppState, limits: &RouterLimits) -> Router {
    Router::new()
        // Clients, authenticated per request.
        .route(TOKEN_PATH, post(oauth::token))
        .route(INTROSPECT_PATH, post(oauth::introspect))
        .route(REVOKE_PATH, post(oauth::revoke))
        .route(PAR_PATH, post(oidc::par))
        .route(DEVICE_AUTHORIZATION_PATH, post(device::device_authorization))
        .route("/oauth/device/code", post(device::device_authorization))
        // Bearer tokens.
        .route(USERINFO_PATH, get(oidc::userinfo).post(oidc::userinfo))
        .route(TOKENINFO_PATH, get(oidc::tokeninfo))
        // Public documents.
        .route(OAUTH_METADATA_PATH, get(discovery::metadata))
        .route(OPENID_METADATA_PATH, get(discovery::metadata))
        .route(JWKS_PATH, get(discovery::jwks))
        .route("/assets/ward.css", get(pages::stylesheet))
        .route("/assets/form-post.js", get(pages::form_post_script))
        // Browsers: cookies, CSRF-checked forms.
        .route("/", get(pages::home))
        .route("/sign-in", get(pages::sign_in_page).post(pages::sign_in))
        .route("/sign-out", post(pages::sign_out))
        .route(AUTHORIZE_PATH, get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/oauth/consent", post(authorize::consent))
        .route(END_SESSION_PATH, get(oidc::logout_page).post(oidc::logout))
        .route(DEVICE_PATH, get(device::device_page).post(device::device_lookup))
        .route("/device/decide", post(device::device_decide))
        .route("/account/sessions", get(account::sessions))
        .route("/account/sessions/revoke", post(account::revoke))
        .route("/account/sessions/revoke-all", post(account::revoke_all))
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
