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
use ward_gate::GateError;
use ward_token::remote::RemoteVerifier;

/// The `protocol` of this gate's audit events.
pub const PROTOCOL: &str = "http";

/// What every request handler shares.
pub struct DataApi {
    pub config: HttpGateConfig,
    pub verifier: Arc<RemoteVerifier>,
    /// `/query`, when a `[[gate.postgres]]` is named.
    pub postgres: Option<query::Postgres>,
    /// `/command`, when a `[[gate.redis]]` is named.
    pub redis: Option<command::Redis>,
    pub meters: audit::Meters,
}

/// A started data API.
pub struct RunningDataApi {
    /// One per thread, with `threads > 1`.
    pub apis: Vec<Arc<DataApi>>,
    addr: SocketAddr,
    running: Running,
}

enum Running {
    /// On the process's runtime, with a graceful drain at stop.
    Task(tokio::task::JoinHandle<()>),
    /// On threads of its own.
    Threads(ward_gate::RunningGate),
}

impl RunningDataApi {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits until the listener has stopped (and, on the process's runtime, open requests
    /// have drained).
    pub async fn join(self) {
        match self.running {
            Running::Task(task) => {
                let _ = task.await;
            }
            Running::Threads(gate) => gate.join().await,
        }
    }
}

/// Builds the API from `[gate.http]` and the gates it names (passwords read through `env`
/// where configured), and serves it until the future `stop()` gives completes: on the
/// process's runtime, or with `threads = N > 1` on N threads of its own, each with its own
/// listener on the port (SO_REUSEPORT) and its share of the connections, as the gates do.
pub async fn start<F, Fut>(
    config: &HttpGateConfig,
    gates: &GateConfig,
    verifier: Arc<RemoteVerifier>,
    env: impl Fn(&str) -> Option<String>,
    stop: F,
) -> Result<RunningDataApi, GateError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let threads = config.threads.max(1);
    let tls = config.tls.as_ref().map(ward_gate::tls::acceptor).transpose()?;
    let share = |total: usize, i: usize| (total / threads + usize::from(i < total % threads)).max(1);
    let apis = (0..threads)
        .map(|i| {
            let postgres = match &config.postgres {
                Some(name) => {
                    let gate = gates.postgres_named(name).ok_or_else(|| GateError::UnknownGate(name.clone()))?;
                    Some(query::Postgres::new(gate, share(config.pool_size, i), config.statement_timeout, &env)?)
                }
                None => None,
            };
            let redis = match &config.redis {
                Some(name) => {
                    let gate = gates.redis_named(name).ok_or_else(|| GateError::UnknownGate(name.clone()))?;
                    Some(command::Redis::new(gate, share(config.redis_connections, i), &env)?)
                }
                None => None,
            };
            let (verifier, meters) = (verifier.clone(), audit::Meters::register());
            Ok(Arc::new(DataApi { config: config.clone(), verifier, postgres, redis, meters }))
        })
        .collect::<Result<Vec<_>, GateError>>()?;
    let listen_error = |source| GateError::Listen { addr: config.listen, source };
    if threads > 1 {
        let listeners: Vec<_> = apis
            .iter()
            .map(|api| Arc::new(Listener { api: api.clone(), router: router(api.clone()), tls: tls.clone() }))
            .collect();
        let permits = Arc::new(tokio::sync::Semaphore::new(config.max_client_connections));
        let gate =
            ward_gate::RunningGate::start(listeners, config.listen, permits, stop).await.map_err(listen_error)?;
        return Ok(RunningDataApi { apis, addr: gate.local_addr(), running: Running::Threads(gate) });
    }
    let listener = TcpListener::bind(config.listen).await.map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    let options = ward_http::ServeOptions {
        header_read_timeout: config.header_read_timeout,
        max_connections: config.max_client_connections,
        shutdown_grace: config.request_timeout.min(std::time::Duration::from_secs(10)),
    };
    let app = router(apis[0].clone());
    let task = tokio::spawn(ward_http::serve(listener, app, options, tls, stop()));
    Ok(RunningDataApi { apis, addr, running: Running::Task(task) })
}

/// One thread's share of the API, accepting on its own listener.
struct Listener {
    api: Arc<DataApi>,
    router: Router,
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl ward_gate::Service for Listener {
    async fn serve(self: Arc<Self>, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let timeout = self.api.config.header_read_timeout;
        ward_http::serve_connection(stream, peer, self.router.clone(), timeout, self.tls.as_ref()).await;
    }

    /// At `max_client_connections`: a 503, once the request has begun to arrive (HTTP
    /// clients take an answer before their request for a broken connection), its body unread;
    /// the connection then closes. With TLS the connection just closes.
    async fn refuse_busy(self: Arc<Self>, mut stream: tokio::net::TcpStream, peer: SocketAddr) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        tracing::warn!(client = %peer, "HTTP data API at max_client_connections; refusing");
        if self.tls.is_none() {
            let mut head = [0u8; 8192];
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.read(&mut head)).await;
            let body = r#"{"error":"unavailable","message":"too many connections; try again later"}"#;
            let response = format!(
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
    }
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
