//! Which access tokens are revoked, as this node knows it.
//!
//! The database decides; this is a view of it. A revocation made on this node enters the
//! view at once. Revocations made on other nodes are read in every `sync_interval` (default
//! 1 s): that is the bounded staleness across nodes. A zero interval asks the database on
//! every check. If the database cannot be read when a sync is due, checks fail closed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ward_core::UnixTime;
use ward_store::{RevocationStore, StoreError};

/// Overlap between successive syncs, covering clock differences between nodes (each node
/// stamps `revoked_at` with its own clock).
const CLOCK_SKEW_SECS: i64 = 300;

struct View {
    /// jti → the revoked token's `exp`, after which the entry is useless.
    revoked: HashMap<String, UnixTime>,
    last_sync: Option<Instant>,
    /// Largest `revoked_at` seen.
    watermark: UnixTime,
}

pub struct RevocationCache {
    sync_interval: Duration,
    view: Mutex<View>,
    syncing: tokio::sync::Mutex<()>,
}

impl RevocationCache {
    pub fn new(sync_interval: Duration) -> Self {
        Self {
            sync_interval,
            view: Mutex::new(View { revoked: HashMap::new(), last_sync: None, watermark: 0 }),
            syncing: tokio::sync::Mutex::new(()),
        }
    }

    pub async fn is_revoked(&self, store: &impl RevocationStore, jti: &str, now: UnixTime) -> Result<bool, StoreError> {
        if self.sync_interval.is_zero() {
            return store.is_jti_revoked(jti).await;
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
        Ok(self.view.lock().map(|v| v.revoked.contains_key(jti)).unwrap_or(true))
    }

    /// Records a revocation this node just wrote to the store.
    pub fn record(&self, jti: &str, expires_at: UnixTime) {
        if let Ok(mut view) = self.view.lock() {
            view.revoked.insert(jti.to_owned(), expires_at);
        }
    }

    fn sync_due(&self) -> bool {
        self.view.lock().map(|v| v.last_sync.is_none_or(|at| at.elapsed() >= self.sync_interval)).unwrap_or(true)
    }

    fn never_synced(&self) -> bool {
        self.view.lock().map(|v| v.last_sync.is_none()).unwrap_or(true)
    }

    async fn sync(&self, store: &impl RevocationStore, now: UnixTime) -> Result<(), StoreError> {
        let since = self.view.lock().map(|v| v.watermark.saturating_sub(CLOCK_SKEW_SECS)).unwrap_or(0);
        let rows = store.revocations_since(since, now).await?;
        if let Ok(mut view) = self.view.lock() {
            for (jti, expires_at, revoked_at) in rows {
                view.watermark = view.watermark.max(revoked_at);
                view.revoked.insert(jti, expires_at);
            }
            view.revoked.retain(|_, exp| *exp > now);
            view.last_sync = Some(Instant::now());
        }
        Ok(())
    }
}
