//! Browser sessions (a signed-in person's cookie, by hash) and remembered consent.

use std::future::Future;

use sqlx::Row as _;
use ward_core::{ScopeSet, UnixTime};

use crate::db::SqlStore;
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    pub username: String,
    /// When the person entered their password.
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

pub trait SessionStore: Send + Sync {
    fn insert_session(&self, session_hash: &str, session: &BrowserSession) -> impl Future<Output = Result<()>> + Send;
    fn get_session(&self, session_hash: &str) -> impl Future<Output = Result<Option<BrowserSession>>> + Send;
    fn delete_session(&self, session_hash: &str) -> impl Future<Output = Result<()>> + Send;
    /// Ends every browser session of a user; returns how many.
    fn delete_sessions_of(&self, username: &str) -> impl Future<Output = Result<u64>> + Send;
    /// The scopes `username` has consented to for `client_id`.
    fn consent(&self, username: &str, client_id: &str) -> impl Future<Output = Result<ScopeSet>> + Send;
    /// Records consent to `scopes` (everything consented so far).
    fn save_consent(
        &self,
        username: &str,
        client_id: &str,
        scopes: &ScopeSet,
        now: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
    fn purge_sessions(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

impl SessionStore for SqlStore {
    async fn insert_session(&self, session_hash: &str, s: &BrowserSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO browser_sessions (session_hash, username, auth_time, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session_hash)
        .bind(&s.username)
        .bind(s.auth_time)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn get_session(&self, session_hash: &str) -> Result<Option<BrowserSession>> {
        let row = sqlx::query(
            "SELECT username, auth_time, created_at, expires_at FROM browser_sessions WHERE session_hash = $1",
        )
        .bind(session_hash)
        .fetch_optional(self.read())
        .await?;
        row.map(|row| {
            Ok(BrowserSession {
                username: row.try_get("username")?,
                auth_time: row.try_get("auth_time")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, session_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM browser_sessions WHERE session_hash = $1")
            .bind(session_hash)
            .execute(self.write())
            .await?;
        Ok(())
    }

    async fn delete_sessions_of(&self, username: &str) -> Result<u64> {
        let done = sqlx::query("DELETE FROM browser_sessions WHERE username = $1")
            .bind(username)
            .execute(self.write())
            .await?;
        Ok(done.rows_affected())
    }

    async fn consent(&self, username: &str, client_id: &str) -> Result<ScopeSet> {
        let scopes: Option<String> =
            sqlx::query_scalar("SELECT scopes FROM consents WHERE username = $1 AND client_id = $2")
                .bind(username)
                .bind(client_id)
                .fetch_optional(self.read())
                .await?;
        ScopeSet::parse(scopes.as_deref().unwrap_or_default())
            .map_err(|e| StoreError::Corrupt(format!("consent scopes: {e}")))
    }

    async fn save_consent(&self, username: &str, client_id: &str, scopes: &ScopeSet, now: UnixTime) -> Result<()> {
        sqlx::query(
            "INSERT INTO consents (username, client_id, scopes, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (username, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at",
        )
        .bind(username)
        .bind(client_id)
        .bind(scopes.to_string())
        .bind(now)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn purge_sessions(&self, before: UnixTime) -> Result<u64> {
        let done = sqlx::query("DELETE FROM browser_sessions WHERE expires_at < $1")
            .bind(before)
            .execute(self.write())
            .await?;
        Ok(done.rows_affected())
    }
}
