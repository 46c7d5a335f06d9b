//! Backend connections per service account, at most `pool_size` of them; waiting
//! longer than `queue_timeout` fails with SQLSTATE 53300. Idle connections older than
//! `idle_timeout` are closed instead of reused. Two ways back: a session-pooled connection is
//! released (Sync, then `reset_query`, within `reset_timeout`, kept only if that leaves it
//! idle); a transaction-pooled one is put back between transactions as it is, and
//! [`super::framed::assign`] resets it before another identity gets it. [`slots`] decides who gets
//! what.

mod slots;

use std::sync::{Arc, Mutex};

use std::time::{Duration, Instant};
use ward_core::sync::lock;

use self::slots::{Claim, Grant, Slot, Slots};
use super::backend::{self, Backend, BackendError, Upstream};
use super::context::IdentityDigest;
use super::framed::assign::{Reset, resets_everything};
use crate::protocol::frontend::{encode_query, encode_sync};

pub use self::slots::HEALTH_CHECK_AFTER;

pub struct Pool {
    upstream: Upstream,
    account: String,
    password: Option<String>,
    slots: Arc<Slots>,
    size: usize,
    /// Registered once: labelling per acquire would allocate on every transaction.
    wait_histogram: metrics::Histogram,
    /// Resets before a client: of a backend that served another identity, of one that served
    /// the same identity.
    reset_counters: [metrics::Counter; 2],
    parameters: Mutex<Option<Vec<(String, String)>>>,
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
    /// What the client is told. The backend's own error stays in the log.
    pub fn client_error(&self) -> crate::protocol::backend::PgError {
        use crate::protocol::backend::PgError;
        match self {
            Self::QueueTimeout => {
                PgError::fatal("53300", "too many connections for this service account; try again later")
            }
            Self::Backend(_) => PgError::fatal("08006", "the database is not available"),
        }
    }

    pub fn reason(&self) -> ward_gate::RefusalReason {
        match self {
            Self::QueueTimeout => ward_gate::RefusalReason::QueueTimeout,
            Self::Backend(_) => ward_gate::RefusalReason::Backend,
        }
    }
}

/// A backend connection on loan, holding its pool slot.
pub struct Lease {
    pub backend: Backend,
    slot: Slot,
}

#[cfg(test)]
impl Lease {
    /// A lease on `backend` holding a slot of a pool of its own, for tests of what happens
    /// on a backend.
    pub(crate) fn for_test(backend: Backend) -> Self {
        Self { backend, slot: Slots::lone_slot() }
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
        let resets = |why: &'static str| metrics::counter!("ward_pg_backend_resets_total", "account" => account.clone(), "previous" => why);
        let reset_counters = [resets("another_identity"), resets("same_identity")];
        Self {
            reset_counters,
            upstream,
            account,
            password,
            slots: Slots::new(settings.size, settings.idle_timeout),
            size: settings.size,
            wait_histogram,
            parameters: Mutex::new(None),
            queue_timeout: settings.queue_timeout,
            reset_query: settings.reset_query,
            reset_timeout: settings.reset_timeout,
        }
    }

    /// Counts a reset [`super::assign`] ran.
    pub fn count_reset(&self, reset: Reset) {
        let index = match reset {
            Reset::AnotherIdentity => 0,
            Reset::SameIdentity => 1,
        };
        self.reset_counters[index].increment(1);
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
        let Grant { slot, backend } = match self.slots.claim(identity) {
            Claim::Granted(grant) => grant,
            Claim::Wait(granted) => self.wait(granted).await?,
            Claim::Patient(mut granted, ticket) => match tokio::time::timeout(slots::PATIENCE, &mut granted).await {
                Ok(Ok(grant)) => grant,
                Ok(Err(_)) => return Err(AcquireError::QueueTimeout),
                Err(_) => match self.slots.lose_patience(ticket) {
                    Some(grant) => grant,
                    None => self.wait(granted).await?,
                },
            },
        };
        let backend = match backend.or_else(|| self.slots.take_idle_for(identity)) {
            Some(backend) => backend,
            None => self.connect().await?,
        };
        Ok(Lease { backend, slot })
    }

    /// Waits for a slot, at most `queue_timeout`.
    async fn wait(&self, granted: tokio::sync::oneshot::Receiver<Grant>) -> Result<Grant, AcquireError> {
        let started = Instant::now();
        let grant = tokio::time::timeout(self.queue_timeout, granted)
            .await
            .map_err(|_| AcquireError::QueueTimeout)?
            .map_err(|_| AcquireError::QueueTimeout)?;
        self.wait_histogram.record(started.elapsed().as_secs_f64());
        Ok(grant)
    }

    /// A fresh connection in place of one that failed (after a PostgreSQL restart, say).
    pub async fn replace(&self, lease: Lease) -> Result<Lease, AcquireError> {
        let Lease { backend, slot } = lease;
        drop(backend);
        Ok(Lease { backend: self.connect().await?, slot })
    }

    async fn connect(&self) -> Result<Backend, BackendError> {
        backend::connect(&self.upstream, &self.account, self.password.as_deref()).await.inspect_err(|e| {
            metrics::counter!("ward_pg_backend_errors_total", "account" => self.account.clone()).increment(1);
            tracing::warn!(account = %self.account, error = %e, "backend connection failed");
        })
    }

    /// Returns a session-pooled connection: kept only if `clean` (the client left between
    /// messages, outside a transaction) and its reset comes back idle in time. A Sync goes
    /// first: a client may have left mid-pipeline, with the backend skipping everything up to
    /// the next Sync. Whatever fails here closes the connection; its slot is free either way.
    pub async fn release(&self, lease: Lease, clean: bool) {
        let Lease { mut backend, slot } = lease;
        if !clean {
            return;
        }
        let mut batch = bytes::BytesMut::new();
        encode_sync(&mut batch);
        encode_query(&mut batch, &self.reset_query);
        // Errors before the Sync's ReadyForQuery were the client's.
        match backend.exchange(&batch, 2, 1, self.reset_timeout).await {
            Ok(()) => {
                if resets_everything(&self.reset_query) {
                    backend.holds = None;
                    backend.prepared.clear();
                } else {
                    backend.dirty = true;
                }
                self.put_back(Lease { backend, slot });
            }
            Err(e) => {
                tracing::debug!(account = %self.account, error = %e, "closing a backend connection that failed its reset")
            }
        }
    }

    /// Transaction pooling: returns a connection between transactions, as it is. What the
    /// next client must not inherit is handled when it is next assigned.
    pub fn put_back(&self, lease: Lease) {
        let Lease { mut backend, slot } = lease;
        backend.idle_since = Instant::now();
        backend.conn.shrink();
        self.slots.give_back(backend, slot);
    }

    /// The server's ParameterStatus values, for a client that is not bound to a backend.
    pub async fn startup_parameters(&self) -> Result<Vec<(String, String)>, AcquireError> {
        if let Some(cached) = lock(&self.parameters).clone() {
            return Ok(cached);
        }
        let lease = self.acquire().await?;
        let parameters = lease.backend.parameters.clone();
        *lock(&self.parameters) = Some(parameters.clone());
        self.put_back(lease);
        Ok(parameters)
    }

    /// Backend connections this pool may open.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Idle connections, for tests and metrics.
    pub fn idle_count(&self) -> usize {
        self.slots.idle_count()
    }
}
