//! The gate: one listener per `[[gate.postgres]]`, one task per client. What every gate
//! shares — trust, role rules, claims, the listener and its threads, TLS, audit events,
//! refusal reasons, watchers — is `ward_gate`; this is the PostgreSQL part.
//!
//! - [`conn`] — frame I/O over a socket.
//! - [`handshake`] — startup, token authentication (password or OAUTHBEARER).
//! - [`backend`] — the gate as a PostgreSQL client (SCRAM-SHA-256, md5, trust).
//! - [`pool`] — backend connections per service account.
//! - [`context`] — the caller's identity as custom settings, for row-level security.
//! - [`signed_identity`] — the identity with a MAC, and the `ward` schema that verifies it.
//! - [`statements`] — named prepared statements across backends (transaction pooling).
//! - [`session_state`] — what SQL text may do to a session.
//! - [`framed`] — the message loop every session runs: session pooling, audited session
//!   pooling and transaction pooling are three configurations of it.
//! - [`cancel`] — the gate's own cancel keys, forwarded to the right backend.
//! - [`upstream_tls`] — SSLRequest toward PostgreSQL, under the upstream TLS policy.
//! - [`audit`] — per-statement audit lines.
//! - [`session`] — one client from accept to close.

pub mod audit;
pub mod backend;
pub mod cancel;
pub mod conn;
pub mod context;
pub mod framed;
pub mod handshake;
pub mod pool;
pub mod session;
pub mod session_state;
pub mod signed_identity;
pub mod statements;
pub mod upstream_tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use ward_config::PostgresGateConfig;
use ward_core::{Clock, Entropy};
use ward_gate::listener::ClientPermits;
use ward_gate::{GateError, RunningGate, Service};
use ward_token::remote::RemoteVerifier;

use self::backend::Upstream;
use self::cancel::CancelRegistry;
use self::pool::{Pool, PoolSettings};
use self::signed_identity::IdentitySigner;

/// The `protocol` of this gate's audit events.
pub const PROTOCOL: &str = "postgres";

/// What a gate is built from, besides its configuration.
#[derive(Clone)]
pub struct GateDeps {
    pub verifier: Arc<RemoteVerifier>,
    pub entropy: Arc<dyn Entropy>,
    pub clock: Arc<dyn Clock>,
}

/// Everything a session needs, shared by all sessions of one gate (of one thread, with
/// `threads > 1`).
pub struct Gate {
    pub config: PostgresGateConfig,
    pub verifier: Arc<RemoteVerifier>,
    pub pools: HashMap<String, Arc<Pool>>,
    pub upstream: Upstream,
    /// Shared by a gate's threads: a CancelRequest may reach any of them.
    pub cancel: Arc<CancelRegistry>,
    pub entropy: Arc<dyn Entropy>,
    pub clock: Arc<dyn Clock>,
    /// Advertised to OAUTHBEARER clients for discovery.
    pub oauth_issuer: String,
    pub oauth_scope: String,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Signs identities for the `ward` schema, when `signed_identity` is configured.
    pub signer: Option<Arc<IdentitySigner>>,
}

/// A started gate, and its per-thread halves (for tests that look at pools).
pub struct RunningPgGate {
    pub gates: Vec<Arc<Gate>>,
    pub running: RunningGate,
}

/// Builds the gate from its configuration (service-account passwords read through `env`
/// where configured) and starts accepting clients until `stop()` completes: on the current
/// runtime, or with `threads = N > 1` on N threads of its own, each with its share of
/// `pool_size` (the shares add up to it), all sharing cancel keys and the client limit.
pub async fn start<F, Fut>(
    config: &PostgresGateConfig,
    trust: &[ward_config::TrustConfig],
    deps: GateDeps,
    env: impl Fn(&str) -> Option<String>,
    stop: F,
) -> Result<RunningPgGate, GateError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let threads = config.threads.max(1);
    let cancel: Arc<CancelRegistry> = Arc::default();
    let permits: ClientPermits = Arc::new(Semaphore::new(config.max_client_connections));
    let gates = (0..threads)
        .map(|i| {
            let share = config.pool_size / threads + usize::from(i < config.pool_size % threads);
            Gate::build(config.clone(), trust, deps.clone(), &env, share, cancel.clone()).map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let running = RunningGate::start(gates.clone(), config.listen, permits, stop)
        .await
        .map_err(|source| GateError::Listen { addr: config.listen, source })?;
    Ok(RunningPgGate { gates, running })
}

impl Gate {
    fn build(
        config: PostgresGateConfig,
        trust: &[ward_config::TrustConfig],
        deps: GateDeps,
        env: &impl Fn(&str) -> Option<String>,
        pool_size: usize,
        cancel: Arc<CancelRegistry>,
    ) -> Result<Self, GateError> {
        let (upstream, pools) = pools(&config, pool_size, env)?;
        let first = trust.first().ok_or(GateError::NoTrust)?;
        let tls = config.tls.as_ref().map(ward_gate::tls::acceptor).transpose()?;
        let signer = config.signed_identity.as_ref().map(|s| IdentitySigner::new(s, env)).transpose()?.map(Arc::new);
        Ok(Self {
            tls,
            signer,
            oauth_issuer: first.issuer.trim_end_matches('/').to_owned(),
            oauth_scope: if first.required_scopes.is_empty() {
                "openid".into()
            } else {
                first.required_scopes.join(" ")
            },
            config,
            verifier: deps.verifier,
            pools,
            upstream,
            cancel,
            entropy: deps.entropy,
            clock: deps.clock,
        })
    }
}

/// The gate's upstream, and a pool per service account of `pool_size` connections, with the
/// gate's timeouts and resets. The gate's sessions use one set; the HTTP data API builds its
/// own from the same section.
pub fn pools(
    config: &PostgresGateConfig,
    pool_size: usize,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(Upstream, HashMap<String, Arc<Pool>>), GateError> {
    let upstream = Upstream::new(&config.upstream, Duration::from_secs(5))?;
    let mut pools = HashMap::new();
    for (account, settings) in &config.accounts {
        let password = settings.resolve_password(account, env)?;
        let settings = PoolSettings {
            size: pool_size,
            idle_timeout: config.idle_timeout,
            queue_timeout: config.queue_timeout,
            reset_query: config.reset_query.clone(),
            reset_timeout: config.reset_timeout,
        };
        pools.insert(account.clone(), Arc::new(Pool::new(upstream.clone(), account.clone(), password, settings)));
    }
    Ok((upstream, pools))
}

impl Service for Gate {
    async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        session::run(&self, stream, peer).await;
    }

    async fn refuse_busy(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        session::refuse_busy(&self, stream, peer).await;
    }
}
