//! Revoked access tokens, by `jti`. Rows live until the token would have expired anyway.

use std::future::Future;

use ward_core::UnixTime;

use crate::db::SqlStore;
use crate::error::Result;

pub trait RevocationStore: Send + Sync {
    /// Records the revocation; revoking twice is not an error.
    fn revoke_jti(&self, jti: &str, expires_at: UnixTime, now: UnixTime) -> impl Future<Output = Result<()>> + Send;
    fn is_jti_revoked(&self, jti: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Revocations recorded at or after `since` whose tokens are still valid at `now`, as
    /// `(jti, expires_at, revoked_at)`.
    fn revocations_since(
        &self,
        since: UnixTime,
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<(String, UnixTime, UnixTime)>>> + Send;
    /// Drops rows whose tokens have expired; returns how many.
    fn purge_revocations(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

impl RevocationStore for SqlStore {
    async fn revoke_jti(&self, jti: &str, expires_at: UnixTime, now: UnixTime) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .bind(now)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn is_jti_revoked(&self, jti: &str) -> Result<bool> {
        let hit: Option<i64> = sqlx::query_scalar("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(self.read())
            .await?;
        Ok(hit.is_some())
    }

    async fn revocations_since(&self, since: UnixTime, now: UnixTime) -> Result<Vec<(String, UnixTime, UnixTime)>> {
        let rows = sqlx::query_as::<_, (String, i64, i64)>(
            "SELECT jti, expires_at, revoked_at FROM revoked_tokens WHERE revoked_at >= $1 AND expires_at > $2",
        )
        .bind(since)
        .bind(now)
        .fetch_all(self.read())
        .await?;
        Ok(rows)
    }

    async fn purge_revocations(&self, now: UnixTime) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1").bind(now).execute(self.write()).await?;
        Ok(done.rows_affected())
    }
}
