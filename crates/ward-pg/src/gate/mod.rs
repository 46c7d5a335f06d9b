//! The gate: one listener per `[[gate.postgres]]`, one task per client.
//!
//! - [`conn`] — frame I/O over a socket.
//! - [`assign`] — handing a backend to a client: reset between identities, identity first.
//! - [`handshake`] — startup, token authentication (password or OAUTHBEARER).
//! - [`mapping`] — token roles → service account.
//! - [`backend`] — the gate as a PostgreSQL client (SCRAM-SHA-256, md5, trust).
//! - [`pool`] — backend connections per service account.
//! - [`context`] — the caller's identity as custom settings, for row-level security.
//! - [`signed_identity`] — the identity with a MAC, and the `ward` schema that verifies it.
//! - [`statements`] — named prepared statements across backends (transaction pooling).
//! - [`framed`] — the message-by-message loop: transaction pooling, and audited sessions.
//! - [`relay`] — the session relay and its message tracker.
//! - [`cancel`] — the gate's own cancel keys, forwarded to the right backend.
//! - [`upstream_tls`] — TLS toward PostgreSQL with libpq's sslmode meanings.
//! - [`stream`] — sockets that may have been upgraded to TLS, either way.
//! - [`tls`] — the gate's certificate and TLS-upgradable client streams.
//! - [`audit`] — per-statement audit lines.
//! - [`session`] — one client from accept to close, with its audit lines.
//! - [`threads`] — a gate on threads of its own (`threads = N`), one listener and pool share each.

pub mod assign;
pub mod audit;
pub mod backend;
pub mod cancel;
pub mod conn;
pub mod context;
pub mod framed;
pub mod handshake;
pub mod mapping;
pub mod pool;
pub mod relay;
pub mod session;
pub mod signed_identity;
pub mod statements;
pub mod stream;
pub mod threads;
pub mod tls;
pub mod upstream_tls;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use ward_config::PostgresGateConfig;
use ward_core::Entropy;
use ward_token::remote::RemoteVerifier;

use self::backend::Upstream;
use self::cancel::CancelRegistry;
use self::pool::{Pool, PoolSettings};
use self::signed_identity::IdentitySigner;

/// Everything a session needs, shared by all sessions of one gate.
pub struct Gate {
    pub config: PostgresGateConfig,
    pub verifier: Arc<RemoteVerifier>,
    pub pools: HashMap<String, Arc<Pool>>,
    pub upstream: Upstream,
    /// Shared by a gate's threads: a CancelRequest may reach any of them.
    pub cancel: Arc<CancelRegistry>,
    pub entropy: Arc<dyn Entropy>,
    /// Advertised to OAUTHBEARER clients for discovery.
    pub oauth_issuer: String,
    pub oauth_scope: String,
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Signs identities for the `ward` schema, when `signed_identity` is configured.
    pub signer: Option<Arc<IdentitySigner>>,
    client_permits: Arc<Semaphore>,
}

impl Gate {
    /// Builds the gate, reading service-account passwords through `env` where configured.
    pub fn new(
        config: PostgresGateConfig,
        verifier: Arc<RemoteVerifier>,
        trust: &[ward_config::TrustConfig],
        entropy: Arc<dyn Entropy>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, String> {
        let shared = Shared::new(&config);
        let pool_size = config.pool_size;
        Self::build(config, verifier, trust, entropy, &env, pool_size, shared)
    }

    /// One gate per configured thread, each with its share of `pool_size` (the shares add up
    /// to it), all sharing cancel keys and the client limit.
    pub fn per_thread(
        config: &PostgresGateConfig,
        verifier: Arc<RemoteVerifier>,
        trust: &[ward_config::TrustConfig],
        entropy: Arc<dyn Entropy>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<Self>, String> {
        let shared = Shared::new(config);
        let threads = config.threads.max(1);
        (0..threads)
            .map(|i| {
                let share = config.pool_size / threads + usize::from(i < config.pool_size % threads);
                Self::build(config.clone(), verifier.clone(), trust, entropy.clone(), &env, share, shared.clone())
            })
            .collect()
    }

    fn build(
        config: PostgresGateConfig,
        verifier: Arc<RemoteVerifier>,
        trust: &[ward_config::TrustConfig],
        entropy: Arc<dyn Entropy>,
        env: &impl Fn(&str) -> Option<String>,
        pool_size: usize,
        shared: Shared,
    ) -> Result<Self, String> {
        let upstream = Upstream::new(&config.upstream, Duration::from_secs(5))?;
        let mut pools = HashMap::new();
        for (account, settings) in &config.accounts {
            let password = settings.resolve_password(env).map_err(|e| format!("account {account}: {e}"))?;
            let pool = Pool::new(
                upstream.clone(),
                account.clone(),
                password,
                PoolSettings {
                    size: pool_size,
                    idle_timeout: config.idle_timeout,
                    queue_timeout: config.queue_timeout,
                    reset_query: config.reset_query.clone(),
                    reset_timeout: config.reset_timeout,
                },
            );
            pools.insert(account.clone(), Arc::new(pool));
        }
        let first = trust.first().ok_or("no trusted issuer")?;
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let signer = config.signed_identity.as_ref().map(|s| IdentitySigner::new(s, env)).transpose()?.map(Arc::new);
        Ok(Self {
            tls,
            signer,
            client_permits: shared.client_permits,
            oauth_issuer: first.issuer.trim_end_matches('/').to_owned(),
            oauth_scope: if first.required_scopes.is_empty() {
                "openid".into()
            } else {
                first.required_scopes.join(" ")
            },
            config,
            verifier,
            pools,
            upstream,
            cancel: shared.cancel,
            entropy,
        })
    }

    pub async fn bind(self: Arc<Self>) -> std::io::Result<BoundGate> {
        let listener = TcpListener::bind(self.config.listen).await?;
        Ok(BoundGate { listener, gate: self })
    }
}

/// What a gate's threads have in common.
#[derive(Clone)]
struct Shared {
    cancel: Arc<CancelRegistry>,
    client_permits: Arc<Semaphore>,
}

impl Shared {
    fn new(config: &PostgresGateConfig) -> Self {
        Self { cancel: Arc::default(), client_permits: Arc::new(Semaphore::new(config.max_client_connections)) }
    }
}

pub struct BoundGate {
    listener: TcpListener,
    gate: Arc<Gate>,
}

impl BoundGate {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Accepts clients until `shutdown` completes. Open sessions carry on to their end.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Self { listener, gate } = self;
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut shutdown => break,
            };
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "gate accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let gate = gate.clone();
            match gate.client_permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(async move {
                        session::run(&gate, stream, peer).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    tokio::spawn(async move { session::refuse_busy(stream, peer).await });
                }
            }
        }
    }
}

/// Verification policies from the configuration's `[[trust]]` entries.
pub fn trust_policies(trust: &[ward_config::TrustConfig]) -> Result<Vec<ward_token::remote::TrustPolicy>, String> {
    trust
        .iter()
        .map(|t| {
            let algorithms = t
                .algorithms
                .iter()
                .map(|a| a.parse().map_err(|_| format!("trust {}: unknown algorithm {a}", t.issuer)))
                .collect::<Result<_, _>>()?;
            Ok(ward_token::remote::TrustPolicy {
                issuer: t.issuer.clone(),
                audiences: t.audiences.clone(),
                algorithms,
                jwks_uri: t.jwks_uri.clone(),
                roles_claim: t.roles_claim.clone(),
                identity_claim: t.identity_claim.clone(),
                required_scopes: t.required_scopes.clone(),
                leeway: t.leeway,
                token_types: t
                    .token_types
                    .iter()
                    .map(|t| {
                        let t = t.to_ascii_lowercase();
                        t.strip_prefix("application/").map(str::to_owned).unwrap_or(t)
                    })
                    .collect(),
                max_lifetime: t.max_token_lifetime,
            })
        })
        .collect()
}
