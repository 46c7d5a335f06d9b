//! One-time secrets of the browser flow: authorization codes and pushed authorization
//! requests (RFC 9126). Each is stored as the hash of its value and used at most once, which a
//! conditional update decides — across nodes too.

use std::future::Future;

use sqlx::Row as _;
use ward_core::{ScopeSet, UnixTime};

use crate::db::SqlStore;
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// The grant the code creates when redeemed, and the one a replay revokes.
    pub grant_id: String,
    pub client_id: String,
    pub username: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    pub scopes: ScopeSet,
    pub auth_time: UnixTime,
    pub expires_at: UnixTime,
}

/// What presenting a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// First use: the code is now spent.
    Redeemed(CodeRecord),
    /// Used before: the caller revokes the grant it created (RFC 6749 §4.1.2).
    Replayed {
        grant_id: String,
    },
    Unknown,
}

/// A pushed authorization request, taken for use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub client_id: String,
    /// The form body the client pushed.
    pub parameters: String,
    pub expires_at: UnixTime,
}

pub trait CodeStore: Send + Sync {
    fn insert_code(&self, code_hash: &str, code: &CodeRecord) -> impl Future<Output = Result<()>> + Send;
    fn redeem_code(&self, code_hash: &str, now: UnixTime) -> impl Future<Output = Result<Redemption>> + Send;
    fn insert_pushed_request(&self, uri_hash: &str, request: &PushedRequest)
    -> impl Future<Output = Result<()>> + Send;
    /// The request, if it exists, has not expired and has not been used. Reading it does not
    /// use it: a person may reload the page (RFC 9126 §4).
    fn pushed_request(
        &self,
        uri_hash: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<PushedRequest>>> + Send;
    /// Uses the request up, when its code is issued; true for exactly one caller.
    fn use_pushed_request(&self, uri_hash: &str, now: UnixTime) -> impl Future<Output = Result<bool>> + Send;
    /// Drops codes and pushed requests that expired before `before`; returns how many.
    fn purge_codes(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

impl CodeStore for SqlStore {
    async fn insert_code(&self, code_hash: &str, c: &CodeRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO authorization_codes (code_hash, grant_id, client_id, username, redirect_uri, code_challenge, \
             nonce, scopes, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(code_hash)
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.username)
        .bind(&c.redirect_uri)
        .bind(c.code_challenge.as_deref())
        .bind(c.nonce.as_deref())
        .bind(c.scopes.to_string())
        .bind(c.auth_time)
        .bind(c.expires_at)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str, now: UnixTime) -> Result<Redemption> {
        let row = sqlx::query(
            "UPDATE authorization_codes SET redeemed_at = $1 WHERE code_hash = $2 AND redeemed_at IS NULL \
             RETURNING grant_id, client_id, username, redirect_uri, code_challenge, nonce, scopes, auth_time, expires_at",
        )
        .bind(now)
        .bind(code_hash)
        .fetch_optional(self.write())
        .await?;
        if let Some(row) = row {
            let scopes: String = row.try_get("scopes")?;
            return Ok(Redemption::Redeemed(CodeRecord {
                grant_id: row.try_get("grant_id")?,
                client_id: row.try_get("client_id")?,
                username: row.try_get("username")?,
                redirect_uri: row.try_get("redirect_uri")?,
                code_challenge: row.try_get("code_challenge")?,
                nonce: row.try_get("nonce")?,
                scopes: ScopeSet::parse(&scopes).map_err(|e| StoreError::Corrupt(format!("code scopes: {e}")))?,
                auth_time: row.try_get("auth_time")?,
                expires_at: row.try_get("expires_at")?,
            }));
        }
        let spent: Option<String> = sqlx::query_scalar("SELECT grant_id FROM authorization_codes WHERE code_hash = $1")
            .bind(code_hash)
            .fetch_optional(self.write())
            .await?;
        Ok(spent.map_or(Redemption::Unknown, |grant_id| Redemption::Replayed { grant_id }))
    }

    async fn insert_pushed_request(&self, uri_hash: &str, r: &PushedRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO pushed_requests (uri_hash, client_id, parameters, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(uri_hash)
        .bind(&r.client_id)
        .bind(&r.parameters)
        .bind(r.expires_at)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn pushed_request(&self, uri_hash: &str, now: UnixTime) -> Result<Option<PushedRequest>> {
        let row = sqlx::query(
            "SELECT client_id, parameters, expires_at FROM pushed_requests \
             WHERE uri_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(uri_hash)
        .bind(now)
        .fetch_optional(self.read())
        .await?;
        row.map(|row| {
            Ok(PushedRequest {
                client_id: row.try_get("client_id")?,
                parameters: row.try_get("parameters")?,
                expires_at: row.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    async fn use_pushed_request(&self, uri_hash: &str, now: UnixTime) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE pushed_requests SET used_at = $1 WHERE uri_hash = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(uri_hash)
        .execute(self.write())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_codes(&self, before: UnixTime) -> Result<u64> {
        let codes = sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
            .bind(before)
            .execute(self.write())
            .await?;
        let pushed =
            sqlx::query("DELETE FROM pushed_requests WHERE expires_at < $1").bind(before).execute(self.write()).await?;
        Ok(codes.rows_affected() + pushed.rows_affected())
    }
}
