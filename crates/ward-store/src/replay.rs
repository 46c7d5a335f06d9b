//! Client-assertion `jti`s (RFC 7523 §3, item 7): each may be used once per client.
//! The unique key decides, so two nodes racing on the same assertion cannot both accept it.

use std::future::Future;

use ward_core::UnixTime;

use crate::db::SqlStore;
use crate::error::Result;

pub trait ReplayStore: Send + Sync {
    /// Records the `jti`; true when this is its first use.
    fn first_use_of_jti(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Drops entries whose assertions have expired; returns how many.
    fn purge_jtis(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

impl ReplayStore for SqlStore {
    async fn first_use_of_jti(&self, client_id: &str, jti: &str, expires_at: UnixTime) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires_at)
        .execute(self.write())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_jtis(&self, now: UnixTime) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM assertion_jtis WHERE expires_at < $1").bind(now).execute(self.write()).await?;
        Ok(done.rows_affected())
    }
}
