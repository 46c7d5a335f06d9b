//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use ward_oauth::AuthorizationServer;
use ward_oauth::discovery::{DEVICE_AUTHORIZATION_PATH, INTROSPECT_PATH, PAR_PATH, REVOKE_PATH, TOKEN_PATH};
use ward_store::SqlStore;

use crate::extract::CookiePolicy;

#[derive(Clone)]
pub struct AppState {
    pub oauth: Arc<AuthorizationServer<SqlStore>>,
    pub metrics: PrometheusHandle,
    pub endpoints: Arc<Endpoints>,
    pub cookies: Arc<CookiePolicy>,
}

/// Absolute endpoint URLs, computed once: acceptable audiences of client assertions.
pub struct Endpoints {
    pub token: String,
    pub introspect: String,
    pub revoke: String,
    pub par: String,
    pub device_authorization: String,
}

impl AppState {
    pub fn new(oauth: Arc<AuthorizationServer<SqlStore>>, metrics: PrometheusHandle) -> Self {
        let s = oauth.settings();
        let endpoints = Endpoints {
            token: s.endpoint(TOKEN_PATH),
            introspect: s.endpoint(INTROSPECT_PATH),
            revoke: s.endpoint(REVOKE_PATH),
            par: s.endpoint(PAR_PATH),
            device_authorization: s.endpoint(DEVICE_AUTHORIZATION_PATH),
        };
        let cookies = CookiePolicy::for_issuer(&s.issuer, s.sign_in.session_ttl);
        Self { oauth, metrics, endpoints: Arc::new(endpoints), cookies: Arc::new(cookies) }
    }
}
