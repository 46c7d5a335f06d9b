//! The HTTP data API (`[gate.http]`): PostgreSQL and Redis over HTTP with the same tokens as
//! psql and redis-cli, under the same rules. `POST /query` runs one statement through
//! `ward-pg`'s pools, role rules and identity context (so row-level security applies exactly
//! as for psql), in a READ ONLY transaction for a read scope; `POST /command` runs one Redis
//! command through `ward-redis`'s command table, scopes and key namespace. Bearer tokens are
//! verified locally, as every gate verifies them; the accept loop is `ward-http`'s.
//!
//! - [`auth`] — the bearer token, its verification, and scope checks.
//! - [`error`] — every failure as JSON with the protocol's code, and RFC 6750 challenges.
//! - [`query`] — `POST /query`: the request, the exchange with PostgreSQL, values as JSON.
//! - [`command`] — `POST /command`: one command, its reply as JSON.
//! - [`openapi`] — the OpenAPI 3.1 document at `/openapi.json`.
//! - [`audit`] — one audit line and the metrics per request.

pub mod audit;
pub mod auth;
pub mod command;
pub mod error;
pub mod openapi;
pub mod query;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use ward_config::gate::{GateConfig, HttpGateConfig};
use ward_core::Clock;
use ward_gate::GateError;
use ward_token::remote::RemoteVerifier;

/// The `protocol` of this gate's audit events.
pub const PROTOCOL: &str = "http";

/// What every request handler shares.
pub struct DataApi {
    pub config: HttpGateConfig,
    pub verifier: Arc<RemoteVerifier>,
    pub clock: Arc<dyn Clock>,
    /// `/query`, when a `[[gate.postgres]]` is named.
    pub postgres: Option<query::Postgres>,
    /// `/command`, when a `[[gate.redis]]` is named.
    pub redis: Option<command::Redis>,
    pub meters: audit::Meters,
}

/// A started data API.
pub struct RunningDataApi {
    pub api: Arc<DataApi>,
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningDataApi {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the listener has stopped and open requests have drained.
    pub async fn join(self) {
        let _ = self.task.await;
    }
}

/// Builds the API from `[gate.http]` and the gates it names (passwords read through `env`
/// where configured), and serves it until `stop` completes.
pub async fn start(
    config: &HttpGateConfig,
    gates: &GateConfig,
    verifier: Arc<RemoteVerifier>,
    clock: Arc<dyn Clock>,
    env: impl Fn(&str) -> Option<String>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningDataApi, GateError> {
    let postgres = match &config.postgres {
        Some(name) => {
            let gate = gates.postgres_named(name).ok_or_else(|| GateError::UnknownGate(name.clone()))?;
            Some(query::Postgres::new(gate, config.pool_size, config.statement_timeout, &env)?)
        }
        None => None,
    };
    let redis = match &config.redis {
        Some(name) => {
            let gate = gates.redis_named(name).ok_or_else(|| GateError::UnknownGate(name.clone()))?;
            Some(command::Redis::new(gate, config.redis_connections, &env)?)
        }
        None => None,
    };
    let tls = config.tls.as_ref().map(ward_gate::tls::acceptor).transpose()?;
    let meters = audit::Meters::register();
    let api = Arc::new(DataApi { config: config.clone(), verifier, clock, postgres, redis, meters });
    let listener =
        TcpListener::bind(config.listen).await.map_err(|source| GateError::Listen { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| GateError::Listen { addr: config.listen, source })?;
    let options = ward_http::ServeOptions {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_client_connections,
        shutdown_grace: config.request_timeout.min(std::time::Duration::from_secs(10)),
    };
    let task = tokio::spawn(ward_http::serve(listener, router(api.clone()), options, tls, stop));
    Ok(RunningDataApi { api, addr, task })
}

/// Every route.
pub fn router(api: Arc<DataApi>) -> Router {
    Router::new()
        .route("/query", post(query::handle))
        .route("/command", post(command::handle))
        .route("/openapi.json", get(openapi::document))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(api.clone(), within_request_timeout))
        .with_state(api)
}

/// A request that takes longer than `request_timeout` is answered 504, in JSON like every
/// other error; what it held (a backend mid-statement, a wait for Redis) is dropped, and a
/// backend dropped mid-statement is closed, which rolls it back.
async fn within_request_timeout(
    axum::extract::State(api): axum::extract::State<Arc<DataApi>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match tokio::time::timeout(api.config.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error::ApiError::Timeout.into_response(),
    }
}
