//! Handing a backend to a client, in both pool modes: the one place where a backend passes
//! from one identity to another.
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
//! closed. Since nothing of the client's travels with the batch, statements that must run
//! first or alone (VACUUM, `CREATE INDEX CONCURRENTLY`, `BEGIN ISOLATION LEVEL …`) work.

use std::time::Duration;

use bytes::BytesMut;

use super::backend::{Backend, BackendError};
use super::context::{self, SessionIdentity};
use super::pool::{AcquireError, Lease, Pool};
use crate::protocol::codec::{put_cstr, put_frame};

/// What a backend passing to another identity always runs.
pub const FULL_RESET: &str = "DISCARD ALL";

/// What to run on backends before they serve a client.
pub struct Resets<'a> {
    /// For a backend that served the same identity and may have changed session state.
    pub same_identity: &'a str,
    /// How long the backend gets to answer.
    pub deadline: Duration,
}

/// A backend from `pool`, set up for `who`: pooled if one is idle, and replaced once if it
/// turns out dead (PostgreSQL restarted since it was pooled) or refuses its reset.
pub async fn assign(pool: &Pool, who: &SessionIdentity, resets: &Resets<'_>) -> Result<Lease, AcquireError> {
    let mut lease = pool.acquire_for(Some(who.digest)).await?;
    let reset = match set_up(&mut lease.backend, who, resets).await {
        Ok(reset) => reset,
        Err(_) => {
            lease = pool.replace(lease).await?;
            set_up(&mut lease.backend, who, resets).await?
        }
    };
    if let Some(reset) = reset {
        pool.count_reset(reset);
    }
    Ok(lease)
}

/// Why a backend was reset before it served a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// It last served another identity: `DISCARD ALL`.
    AnotherIdentity,
    /// It served this identity and may have changed state: the configured reset.
    SameIdentity,
}

async fn set_up(
    backend: &mut Backend,
    who: &SessionIdentity,
    resets: &Resets<'_>,
) -> Result<Option<Reset>, BackendError> {
    let mut batch = BytesMut::new();
    // Each Query and Sync in the batch brings one ReadyForQuery.
    let mut readies = 0;
    let reset = match backend.holds {
        Some(held) if held == who.digest && !backend.dirty => return Ok(None),
        Some(held) if held == who.digest => Some((Reset::SameIdentity, resets.same_identity)),
        Some(_) => Some((Reset::AnotherIdentity, FULL_RESET)),
        None => None,
    };
    if let Some((_, sql)) = reset {
        put_frame(&mut batch, b'Q', |b| put_cstr(b, sql));
        if resets_everything(sql) {
            backend.prepared.clear();
        }
        readies += 1;
    }
    if !who.is_empty() {
        let pid = backend.key.map_or(0, |k| k.pid);
        context::encode_identity(&mut batch, who, pid);
        put_frame(&mut batch, b'S', |_| {});
        readies += 1;
    }
    if readies > 0 {
        // Until the answers are in, the backend holds nothing known: should they fail, the
        // caller closes it.
        backend.holds = None;
        backend.exchange(&batch, readies, 0, resets.deadline).await?;
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
