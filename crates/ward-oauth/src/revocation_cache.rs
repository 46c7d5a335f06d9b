//! Which access tokens are revoked, as this node knows it: by `jti` (RFC 7009 revocation), or
//! by `sid` (a revoked grant ends every token it issued).
//!
//! The database decides; this is a view of it. A revocation made on this node enters the
//! view at once. Revocations made on other nodes (or by `ward admin`) are read in every
//! `sync_interval` (default 1 s): that is the bounded staleness across nodes. A zero interval
//! asks the database on every check. If the database cannot be read when a sync is due,
//! checks fail closed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ward_core::sync::lock;

use ward_core::UnixTime;
use ward_store::{GrantStore, RevocationStore, StoreError};

/// Overlap between successive syncs, covering clock differences between nodes (each node
/// stamps `revoked_at` with its own clock).
const CLOCK_SKEW_SECS: i64 = 300;

struct View {
    /// jti → the revoked token's `exp`, after which the entry is useless.
    tokens: HashMap<String, UnixTime>,
    /// grant id → when the entry is useless: every token the grant issued has expired.
    grants: HashMap<String, UnixTime>,
    last_sync: Option<Instant>,
    /// Largest `revoked_at` seen, of tokens and of grants.
    token_watermark: UnixTime,
    grant_watermark: UnixTime,
}

pub struct RevocationCache {
    sync_interval: Duration,
    /// How long after its revocation a grant's tokens may still be unexpired: the access-token
    /// lifetime, plus the time a node may go on signing for a revoked client grant it cached.
    grant_token_horizon: i64,
    view: Mutex<View>,
    syncing: tokio::sync::Mutex<()>,
}

impl RevocationCache {
    pub fn new(sync_interval: Duration, grant_token_horizon: Duration) -> Self {
        Self {
            sync_interval,
            grant_token_horizon: crate::server::secs(grant_token_horizon),
            view: Mutex::new(View {
                tokens: HashMap::new(),
                grants: HashMap::new(),
                last_sync: None,
                token_watermark: 0,
                grant_watermark: 0,
            }),
            syncing: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the token `jti`, of grant `sid` if it names one, is revoked.
    pub async fn is_revoked(
        &self,
        store: &(impl RevocationStore + GrantStore),
        jti: &str,
        sid: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if self.sync_interval.is_zero() {
            if store.is_jti_revoked(jti).await? {
                return Ok(true);
            }
            return match sid {
                Some(sid) => store.is_grant_revoked(sid).await,
                None => Ok(false),
            };
        }
        if self.sync_due() {
            // One caller syncs; the others use the view as it is, at most one sync old.
            if let Ok(_guard) = self.syncing.try_lock() {
                if self.sync_due() {
                    self.sync(store, now).await?;
                }
            } else if self.never_synced() {
                let _guard = self.syncing.lock().await;
            }
        }
        let view = lock(&self.view);
        Ok(view.tokens.contains_key(jti) || sid.is_some_and(|sid| view.grants.contains_key(sid)))
    }

    /// Records a token revocation this node just wrote to the store.
    pub fn record(&self, jti: &str, expires_at: UnixTime) {
        lock(&self.view).tokens.insert(jti.to_owned(), expires_at);
    }

    /// Records a grant revocation this node just wrote to the store.
    pub fn record_grant(&self, grant_id: &str, now: UnixTime) {
        lock(&self.view).grants.insert(grant_id.to_owned(), now.saturating_add(self.grant_token_horizon));
    }

    fn sync_due(&self) -> bool {
        lock(&self.view).last_sync.is_none_or(|at| at.elapsed() >= self.sync_interval)
    }

    fn never_synced(&self) -> bool {
        lock(&self.view).last_sync.is_none()
    }

    async fn sync(&self, store: &(impl RevocationStore + GrantStore), now: UnixTime) -> Result<(), StoreError> {
        let (token_since, grant_since) = {
            let v = lock(&self.view);
            // On the first sync, every grant revoked within the horizon still matters.
            let grant_since = if v.last_sync.is_none() {
                now.saturating_sub(self.grant_token_horizon)
            } else {
                v.grant_watermark.saturating_sub(CLOCK_SKEW_SECS)
            };
            (v.token_watermark.saturating_sub(CLOCK_SKEW_SECS), grant_since)
        };
        let tokens = store.revocations_since(token_since, now).await?;
        let grants = store.grants_revoked_since(grant_since).await?;
        {
            let mut view = lock(&self.view);
            for (jti, expires_at, revoked_at) in tokens {
                view.token_watermark = view.token_watermark.max(revoked_at);
                view.tokens.insert(jti, expires_at);
            }
            for (grant_id, revoked_at) in grants {
                view.grant_watermark = view.grant_watermark.max(revoked_at);
                let until = revoked_at.saturating_add(self.grant_token_horizon);
                if until > now {
                    view.grants.insert(grant_id, until);
                }
            }
            view.tokens.retain(|_, exp| *exp > now);
            view.grants.retain(|_, until| *until > now);
            view.last_sync = Some(Instant::now());
        }
        Ok(())
    }
}
