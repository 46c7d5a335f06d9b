//! Housekeeping: rows that only matter until the tokens they describe expire.

use ward_store::StoreError;

use crate::server::{AuthorizationServer, Store};

impl<S: Store> AuthorizationServer<S> {
    /// Deletes expired revocations and assertion ids; returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        Ok(self.store.purge_revocations(now).await? + self.store.purge_jtis(now).await?)
    }
}
