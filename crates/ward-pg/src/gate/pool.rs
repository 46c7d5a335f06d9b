//! Backend connections per service account. A semaphore bounds them (`pool_size`); waiting
//! longer than `queue_timeout` fails with SQLSTATE 53300. Idle connections older than
//! `idle_timeout` are closed instead of reused. Two ways back: a session-pooled connection is
//! released (Sync, then `reset_query`, within `reset_timeout`, kept only if that leaves it
//! idle); a transaction-pooled one is put back between transactions as it is, and
//! [`super::assign`] resets it before another identity gets it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::backend::{self, Backend, BackendError, Upstream};
use super::context::IdentityDigest;
use crate::protocol::codec::{put_cstr, put_frame};

/// Idle connections older than this are health-checked before they are handed out.
pub const HEALTH_CHECK_AFTER: Duration = Duration::from_secs(1);

pub struct Pool {
    upstream: Upstream,
    account: String,
    password: Option<String>,
    permits: Arc<Semaphore>,
    size: usize,
    idle: Mutex<Vec<Backend>>,
    /// Registered once: labelling per acquire would allocate on every transaction.
    wait_histogram: metrics::Histogram,
    parameters: Mutex<Option<Vec<(String, String)>>>,
    idle_timeout: Duration,
    queue_timeout: Duration,
    reset_query: String,
    reset_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    #[error("no backend connection became free within the queue timeout")]
    QueueTimeout,
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl AcquireError {
    /// What the client is told (SQLSTATE, message) and the reason recorded for it. The
    /// backend's own error stays in the log.
    pub fn refusal(&self) -> (crate::protocol::backend::PgError, &'static str) {
        use crate::protocol::backend::PgError;
        match self {
            Self::QueueTimeout => (
                PgError::fatal("53300", "too many connections for this service account; try again later"),
                "queue_timeout",
            ),
            Self::Backend(_) => (PgError::fatal("08006", "the database is not available"), "backend"),
        }
    }
}

/// A backend connection on loan, holding its pool slot.
pub struct Lease {
    pub backend: Backend,
    _permit: OwnedSemaphorePermit,
}

/// Which idle connection to give a client when none holds its identity: a clean one (no
/// reset needed), else one of the identity with the most idle connections — the one that can
/// best spare it, so that identities do not keep taking each other's last connection.
fn spare(idle: &[Backend]) -> Option<usize> {
    if let Some(clean) = idle.iter().rposition(|b| b.holds.is_none()) {
        return Some(clean);
    }
    let idle_of = |holds| idle.iter().filter(|b| b.holds == holds).count();
    (0..idle.len()).rev().max_by_key(|&i| idle_of(idle[i].holds))
}

#[cfg(test)]
impl Lease {
    /// A lease on `backend` holding a slot of a semaphore of its own, for tests of what
    /// happens on a backend.
    pub(crate) fn for_test(backend: Backend) -> Self {
        let permits = Arc::new(Semaphore::new(1));
        let Ok(_permit) = permits.try_acquire_owned() else { unreachable!("a fresh semaphore has a permit") };
        Self { backend, _permit }
    }
}

pub struct PoolSettings {
    pub size: usize,
    pub idle_timeout: Duration,
    pub queue_timeout: Duration,
    pub reset_query: String,
    pub reset_timeout: Duration,
}

impl Pool {
    pub fn new(upstream: Upstream, account: String, password: Option<String>, settings: PoolSettings) -> Self {
        let wait_histogram = metrics::histogram!("ward_pg_pool_wait_seconds", "account" => account.clone());
        Self {
            upstream,
            account,
            password,
            permits: Arc::new(Semaphore::new(settings.size)),
            size: settings.size,
            idle: Mutex::new(Vec::new()),
            wait_histogram,
            parameters: Mutex::new(None),
            idle_timeout: settings.idle_timeout,
            queue_timeout: settings.queue_timeout,
            reset_query: settings.reset_query,
            reset_timeout: settings.reset_timeout,
        }
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub async fn acquire(&self) -> Result<Lease, AcquireError> {
        self.acquire_for(None).await
    }

    /// Like `acquire`, preferring an idle connection that already holds the identity with
    /// this digest, which saves setting it again.
    pub async fn acquire_for(&self, identity: Option<IdentityDigest>) -> Result<Lease, AcquireError> {
        // A free slot needs neither a clock read, nor a timer, nor a sample: the histogram
        // describes the waits that happened.
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let started = Instant::now();
                let permit = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| AcquireError::QueueTimeout)?
                    .map_err(|_| AcquireError::QueueTimeout)?;
                self.wait_histogram.record(started.elapsed().as_secs_f64());
                permit
            }
        };
        if let Some(backend) = self.take_idle(identity) {
            return Ok(Lease { backend, _permit: permit });
        }
        Ok(Lease { backend: self.connect().await?, _permit: permit })
    }

    /// A fresh connection in place of one that failed (after a PostgreSQL restart, say).
    pub async fn replace(&self, lease: Lease) -> Result<Lease, AcquireError> {
        let Lease { backend, _permit } = lease;
        drop(backend);
        Ok(Lease { backend: self.connect().await?, _permit })
    }

    async fn connect(&self) -> Result<Backend, BackendError> {
        backend::connect(&self.upstream, &self.account, self.password.as_deref()).await.inspect_err(|e| {
            metrics::counter!("ward_pg_backend_errors_total", "account" => self.account.clone()).increment(1);
            tracing::warn!(account = %self.account, error = %e, "backend connection failed");
        })
    }

    fn take_idle(&self, identity: Option<IdentityDigest>) -> Option<Backend> {
        let mut idle = self.idle.lock().ok()?;
        let now = Instant::now();
        loop {
            let preferred = identity.and_then(|d| idle.iter().rposition(|b| b.holds == Some(d)));
            let index = preferred.or_else(|| spare(&idle))?;
            let backend = idle.swap_remove(index);
            let idle_for = now.saturating_duration_since(backend.idle_since);
            // Connections idle a while are checked before use: PostgreSQL may have closed
            // them (a restart, pg_terminate_backend). Busy ones are not, to spare a syscall
            // per transaction. Dead or too old ones are dropped and the next is tried.
            let healthy =
                idle_for < HEALTH_CHECK_AFTER || (backend.conn.buf.is_empty() && backend.conn.stream.idle_and_open());
            if idle_for < self.idle_timeout && healthy {
                return Some(backend);
            }
        }
    }
    /// Returns a session-pooled connection: kept only if `clean` (the client left between
    /// messages, outside a transaction) and its reset comes back idle in time. A Sync goes
    /// first: a client may have left mid-pipeline, with the backend skipping everything up to
    /// the next Sync. Whatever fails here closes the connection; its slot is free either way.
    pub async fn release(&self, lease: Lease, clean: bool) {
        let Lease { mut backend, _permit } = lease;
        if !clean {
            return;
        }
        let mut batch = bytes::BytesMut::new();
        put_frame(&mut batch, b'S', |_| {});
        put_frame(&mut batch, b'Q', |b| put_cstr(b, &self.reset_query));
        // Errors before the Sync's ReadyForQuery were the client's.
        match backend.exchange(&batch, 2, 1, self.reset_timeout).await {
            Ok(()) => {
                if super::assign::resets_everything(&self.reset_query) {
                    backend.holds = None;
                    backend.prepared.clear();
                } else {
                    backend.dirty = true;
                }
                self.put_back(Lease { backend, _permit });
            }
            Err(e) => {
                tracing::debug!(account = %self.account, error = %e, "closing a backend connection that failed its reset")
            }
        }
    }

    /// Transaction pooling: returns a connection between transactions, as it is. What the
    /// next client must not inherit is handled when it is next assigned.
    pub fn put_back(&self, lease: Lease) {
        let Lease { mut backend, _permit } = lease;
        backend.idle_since = Instant::now();
        backend.conn.shrink();
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(backend);
        }
    }

    /// The server's ParameterStatus values, for a client that is not bound to a backend.
    pub async fn startup_parameters(&self) -> Result<Vec<(String, String)>, AcquireError> {
        if let Some(cached) = self.parameters.lock().ok().and_then(|p| p.clone()) {
            return Ok(cached);
        }
        let lease = self.acquire().await?;
        let parameters = lease.backend.parameters.clone();
        if let Ok(mut slot) = self.parameters.lock() {
            *slot = Some(parameters.clone());
        }
        self.put_back(lease);
        Ok(parameters)
    }

    /// Backend connections this pool may open.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Idle connections, for tests and metrics.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().map_or(0, |i| i.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_of_another_identity_takes_a_clean_backend_else_from_the_richest_identity() {
        let (a, b) = (Some(IdentityDigest::for_test(1)), Some(IdentityDigest::for_test(2)));
        let mut peers = Vec::new();
        let mut idle = Vec::new();
        for holds in [a, b, b, a, b] {
            let (backend, peer) = Backend::for_test(holds);
            idle.push(backend);
            peers.push(peer);
        }
        let taken = spare(&idle).unwrap();
        assert_eq!(idle[taken].holds, b, "b has three idle backends, a two");
        let (clean, peer) = Backend::for_test(None);
        idle.insert(0, clean);
        peers.push(peer);
        assert_eq!(spare(&idle), Some(0), "no reset beats any reset");
        assert_eq!(spare(&[]), None);
    }
}
