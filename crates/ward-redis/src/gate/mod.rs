//! The gate: one listener per `[[gate.redis]]`, one task per client, one upstream connection
//! per authenticated client session, from a pool per service account.
//!
//! - [`upstream`] — connections to Redis as a service account, and their pool.
//! - [`pipeline`] — a few connections per account that many clients' commands share.
//! - [`session`] — one client from accept to close.

pub mod pipeline;
pub mod session;
pub mod upstream;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use ward_config::gate::RedisGateConfig;
use ward_core::Clock;
use ward_gate::claims::ClaimTemplate;
use ward_gate::listener::ClientPermits;
use ward_gate::tls::UpstreamTlsPolicy;
use ward_gate::{GateError, RunningGate, Service};
use ward_token::remote::RemoteVerifier;

use self::pipeline::Pipelines;
use self::upstream::{Login, Pool, Upstream};
use crate::scripts::ApprovedScripts;

/// The `protocol` of this gate's audit events.
pub const PROTOCOL: &str = "redis";

/// Everything a session needs, shared by the sessions of one gate (of one thread).
pub struct Gate {
    pub config: RedisGateConfig,
    pub verifier: Arc<RemoteVerifier>,
    pub clock: Arc<dyn Clock>,
    pub pools: HashMap<String, Pool>,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub key_prefix: ClaimTemplate,
    /// Scripts read and approved through this gate, for EVALSHA.
    pub scripts: Arc<ApprovedScripts>,
    /// Per account, the connections signed-in sessions share until they need one of their
    /// own; none with `shared_connections = 0`.
    pub shared: HashMap<String, Pipelines>,
}

/// A started gate, and its per-thread halves.
pub struct RunningRedisGate {
    pub gates: Vec<Arc<Gate>>,
    pub running: RunningGate,
}

/// Builds the gate (account passwords read through `env` where configured) and accepts
/// clients until `stop()` completes, on the current runtime or on `threads` of its own, each
/// with its share of `pool_size`.
pub async fn start<F, Fut>(
    config: &RedisGateConfig,
    verifier: Arc<RemoteVerifier>,
    clock: Arc<dyn Clock>,
    env: impl Fn(&str) -> Option<String>,
    stop: F,
) -> Result<RunningRedisGate, GateError>
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let threads = config.threads.max(1);
    let scripts = Arc::new(ApprovedScripts::default());
    let permits: ClientPermits = Arc::new(Semaphore::new(config.max_client_connections));
    let upstream = upstream(config)?;
    let key_prefix = ClaimTemplate::parse(&config.key_prefix)?;
    let tls = config.tls.as_ref().map(ward_gate::tls::acceptor).transpose()?;
    let logins = logins(config, &env)?;
    let share = |total: usize, i: usize| (total / threads + usize::from(i < total % threads)).max(1);
    let mut gates = Vec::with_capacity(threads);
    for i in 0..threads {
        let pools = logins
            .iter()
            .map(|(account, login)| {
                let pool = Pool::new(upstream.clone(), login.clone(), share(config.pool_size, i), config.queue_timeout);
                (account.clone(), pool)
            })
            .collect();
        let shared = match config.shared_connections {
            0 => HashMap::new(),
            total => pipelines(&logins, &upstream, share(total, i)),
        };
        gates.push(Arc::new(Gate {
            shared,
            config: config.clone(),
            verifier: verifier.clone(),
            clock: clock.clone(),
            pools,
            tls: tls.clone(),
            key_prefix: key_prefix.clone(),
            scripts: scripts.clone(),
        }));
    }
    let running = RunningGate::start(gates.clone(), config.listen, permits, stop)
        .await
        .map_err(|source| GateError::Listen { addr: config.listen, source })?;
    Ok(RunningRedisGate { gates, running })
}

/// Where Redis is and how to reach it, from the section.
pub fn upstream(config: &RedisGateConfig) -> Result<Arc<Upstream>, GateError> {
    Ok(Arc::new(Upstream {
        host: config.upstream.host.clone(),
        port: config.upstream.port,
        tls: UpstreamTlsPolicy::new(config.upstream.tls, &config.upstream.host, config.upstream.ca_file.as_deref())?,
        database: config.upstream.database,
        connect_timeout: Duration::from_secs(5),
    }))
}

/// Per account, `connections` connections that many clients' commands share: for the gate's
/// sessions (a set per thread) and the HTTP data API's `/command`.
pub fn pipelines(
    logins: &HashMap<String, Login>,
    upstream: &Arc<Upstream>,
    connections: usize,
) -> HashMap<String, Pipelines> {
    logins
        .iter()
        .map(|(account, login)| (account.clone(), Pipelines::new(upstream.clone(), login.clone(), connections)))
        .collect()
}

/// Each service account's login (its ACL user, and password from config or environment), by
/// account name: for the gate's pools and the HTTP data API's connections alike.
pub fn logins(
    config: &RedisGateConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, Login>, GateError> {
    let mut logins = HashMap::new();
    for (account, settings) in &config.accounts {
        let login = Login {
            user: settings.user.clone().unwrap_or_else(|| account.clone()),
            password: settings.resolve_password(account, env)?,
        };
        logins.insert(account.clone(), login);
    }
    Ok(logins)
}

impl Service for Gate {
    async fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        session::run(&self, stream, peer).await;
    }

    async fn refuse_busy(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        session::refuse_busy(&self, stream, peer).await;
    }
}
