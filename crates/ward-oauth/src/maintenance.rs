//! Housekeeping: rows that only matter until the tokens they describe expire.

use ward_store::StoreError;

use crate::server::{AuthorizationServer, Store};

/// Spent codes and ended grants are kept a day past their expiry: a code replayed late still
/// finds the grant to revoke, and a grant's access tokens have long expired.
const KEEP_AFTER_EXPIRY_SECS: i64 = 24 * 3600;

impl<S: Store> AuthorizationServer<S> {
    /// Deletes expired revocations, assertion ids, codes, grants and sessions; returns how
    /// many rows went.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        let long_ago = now.saturating_sub(KEEP_AFTER_EXPIRY_SECS);
        Ok(self.store.purge_revocations(now).await?
            + self.store.purge_jtis(now).await?
            + self.store.purge_codes(long_ago).await?
            + self.store.purge_grants(long_ago).await?
            + self.store.purge_sessions(now).await?
            + self.store.purge_device_codes(long_ago).await?)
    }
}
