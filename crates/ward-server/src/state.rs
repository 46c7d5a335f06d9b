//! What every handler shares.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use ward_oauth::AuthorizationServer;
use ward_oauth::discovery::{INTROSPECT_PATH, REVOKE_PATH, TOKEN_PATH};
use ward_store::SqlStore;

#[derive(Clone)]
pub struct AppState {
    pub oauth: Arc<AuthorizationServer<SqlStore>>,
    pub metrics: PrometheusHandle,
    pub endpoints: Arc<Endpoints>,
}

/// Absolute endpoint URLs, computed once: acceptable audiences of client assertions.
pub struct Endpoints {
    pub token: String,
    pub introspect: String,
    pub revoke: String,
}

impl AppState {
    pub fn new(oauth: Arc<AuthorizationServer<SqlStore>>, metrics: PrometheusHandle) -> Self {
        let s = oauth.settings();
        let endpoints = Endpoints {
            token: s.endpoint(TOKEN_PATH),
            introspect: s.endpoint(INTROSPECT_PATH),
            revoke: s.endpoint(REVOKE_PATH),
        };
        Self { oauth, metrics, endpoints: Arc::new(endpoints) }
    }
}
