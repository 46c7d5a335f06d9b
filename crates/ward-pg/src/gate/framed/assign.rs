//! Taking a backend for this client and giving it back: the one place where a backend passes
//! from one identity to another, in every pool mode.
//!
//! What a backend holds is tracked on it ([`Backend::holds`], [`Backend::dirty`]). Before a
//! client's first message reaches it, the gate sends one batch, with a Sync of its own, and
//! waits for that batch's ReadyForQuery (one round trip):
//!
//! - held for another identity: `DISCARD ALL` (roles and session authorization, settings,
//!   temporary objects, advisory locks, cursors, listeners, prepared statements) — always,
//!   whatever the previous client's SQL looked like;
//! - held for the same identity, which may have changed session state: the configured reset;
//! - then the identity statement, unless the backend already holds exactly this identity.
//!
//! Any error or a non-idle status, or no answer within the deadline, and the backend is
//! closed: the identity is proven only by the clean end of its own batch. Since nothing of
//! the client's travels with the batch, statements that must run first or alone (VACUUM,
//! `CREATE INDEX CONCURRENTLY`, `BEGIN ISOLATION LEVEL …`) work.

use std::time::Duration;

use bytes::BytesMut;

use super::{Assignment, FramedLoop, SessionEnd, Sharing};
use crate::gate::backend::{Backend, BackendError};
use crate::gate::context::{self, SessionIdentity};
use crate::gate::pool::{AcquireError, Lease, Pool};
use crate::protocol::frontend::{encode_query, encode_sync};

/// What a backend passing to another identity always runs.
pub const FULL_RESET: &str = "DISCARD ALL";

/// Why a backend was reset before it served a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// It last served another identity: `DISCARD ALL`.
    AnotherIdentity,
    /// It served this identity and may have changed state: the configured reset.
    SameIdentity,
}

impl FramedLoop<'_> {
    /// A backend set up for this client's identity, with an empty expectation queue.
    pub(super) async fn take_backend(&mut self) -> Result<(), AcquireError> {
        let reset = &self.settings.same_identity_reset;
        let lease = assign(self.pool, self.who, reset, self.settings.reset_timeout).await?;
        self.cancel.retarget(lease.backend.key);
        let mut expect = std::mem::take(&mut self.spare);
        expect.clear();
        self.assigned = Some(Assignment { lease, idle: true, expect, discard: false });
        Ok(())
    }

    /// Transaction sharing, between transactions: the backend goes back to the pool as it is
    /// (unless its prepared statements are uncertain), its emptied queue kept for the next.
    pub(super) fn put_back(&mut self) {
        let Some(Assignment { lease, discard, expect, .. }) = self.assigned.take() else { return };
        self.cancel.retarget(None);
        self.spare = expect;
        if !discard {
            self.pool.put_back(lease);
        }
    }

    /// At the end of the session. A session-shared backend goes back only from a clean stop,
    /// after its reset; a transaction-shared one still assigned is mid-transaction: closed.
    pub(super) async fn finish(&mut self, end: &SessionEnd) {
        let Some(a) = self.assigned.take() else { return };
        self.cancel.retarget(None);
        if self.settings.sharing == Sharing::Session && !a.discard {
            let clean = matches!(end, SessionEnd::ClientLeft) && a.settled();
            self.pool.release(a.lease, clean).await;
        }
    }
}

/// A backend from `pool`, set up for `who`: pooled if one is idle, and replaced once if it
/// turns out dead (PostgreSQL restarted since it was pooled) or refuses its reset.
pub async fn assign(
    pool: &Pool,
    who: &SessionIdentity,
    same_identity_reset: &str,
    deadline: Duration,
) -> Result<Lease, AcquireError> {
    let mut lease = pool.acquire_for(Some(who.digest)).await?;
    let reset = match set_up(&mut lease.backend, who, same_identity_reset, deadline).await {
        Ok(reset) => reset,
        Err(_) => {
            lease = pool.replace(lease).await?;
            set_up(&mut lease.backend, who, same_identity_reset, deadline).await?
        }
    };
    if let Some(reset) = reset {
        pool.count_reset(reset);
    }
    Ok(lease)
}

async fn set_up(
    backend: &mut Backend,
    who: &SessionIdentity,
    same_identity_reset: &str,
    deadline: Duration,
) -> Result<Option<Reset>, BackendError> {
    let mut batch = BytesMut::new();
    // Each Query and Sync in the batch brings one ReadyForQuery.
    let mut readies = 0;
    let reset = match backend.holds {
        Some(held) if held == who.digest && !backend.dirty => return Ok(None),
        Some(held) if held == who.digest => Some((Reset::SameIdentity, same_identity_reset)),
        Some(_) => Some((Reset::AnotherIdentity, FULL_RESET)),
        None => None,
    };
    if let Some((_, sql)) = reset {
        encode_query(&mut batch, sql);
        if resets_everything(sql) {
            backend.prepared.clear();
        }
        readies += 1;
    }
    if !who.is_empty() {
        let pid = backend.key.map_or(0, |k| k.pid);
        context::encode_identity(&mut batch, who, pid);
        encode_sync(&mut batch);
        readies += 1;
    }
    if readies > 0 {
        // Until the answers are in, the backend holds nothing known: should they fail, the
        // caller closes it.
        backend.holds = None;
        backend.exchange(&batch, readies, 0, deadline).await?;
    }
    backend.holds = Some(who.digest);
    backend.dirty = false;
    Ok(reset.map(|(why, _)| why))
}

/// Whether a reset statement drops prepared statements too (as `DISCARD ALL` does).
pub fn resets_everything(sql: &str) -> bool {
    let sql = sql.trim().trim_end_matches(';').trim();
    sql.eq_ignore_ascii_case(FULL_RESET) || sql.to_ascii_lowercase().contains("deallocate")
}
