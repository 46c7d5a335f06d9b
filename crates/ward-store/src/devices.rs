//! Device codes (RFC 8628). What a poll may do, and whether a code is redeemed once, is decided
//! by conditional updates, so two nodes answering the same device agree.

use std::future::Future;

use sqlx::Row as _;
use sqlx::any::AnyRow;
use ward_core::{ScopeSet, UnixTime};

use crate::db::SqlStore;
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

impl DeviceStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "redeemed" => Self::Redeemed,
            other => return Err(StoreError::Corrupt(format!("device code status {other:?}"))),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCode {
    /// Normalised: upper case, no dash.
    pub user_code: String,
    pub client_id: String,
    pub scopes: ScopeSet,
    pub grant_id: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub interval_secs: i64,
    pub last_polled_at: Option<UnixTime>,
    pub status: DeviceStatus,
    /// Who approved or denied it, and when they signed in.
    pub username: Option<String>,
    pub auth_time: Option<UnixTime>,
}

pub trait DeviceStore: Send + Sync {
    /// Conflict when the user code is taken (the caller draws another).
    fn insert_device_code(&self, device_code_hash: &str, code: &DeviceCode) -> impl Future<Output = Result<()>> + Send;
    fn device_code(&self, device_code_hash: &str) -> impl Future<Output = Result<Option<DeviceCode>>> + Send;
    /// A pending, unexpired code by the code a person typed (normalised).
    fn pending_user_code(
        &self,
        user_code: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<DeviceCode>>> + Send;
    /// Approves or denies a pending, unexpired code; false when it was not pending any more.
    fn decide_device_code(
        &self,
        user_code: &str,
        approved: bool,
        username: &str,
        auth_time: UnixTime,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Records a poll at `now` with the interval it leaves the device (raised on slow_down).
    fn record_poll(
        &self,
        device_code_hash: &str,
        now: UnixTime,
        interval_secs: i64,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Marks an approved code redeemed; true for exactly one caller.
    fn redeem_device_code(&self, device_code_hash: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Denies every approved code of a user not yet redeemed (what "revoke all" does to a
    /// device still polling); returns how many.
    fn deny_approved_devices_of(&self, username: &str) -> impl Future<Output = Result<u64>> + Send;
    fn purge_device_codes(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

macro_rules! columns {
    () => {
        "user_code, client_id, scopes, grant_id, created_at, expires_at, interval_secs, last_polled_at, status, username, auth_time"
    };
}

impl DeviceStore for SqlStore {
    async fn insert_device_code(&self, hash: &str, c: &DeviceCode) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO device_codes (device_code_hash, ",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(hash)
        .bind(&c.user_code)
        .bind(&c.client_id)
        .bind(c.scopes.to_string())
        .bind(&c.grant_id)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.interval_secs)
        .bind(c.last_polled_at)
        .bind(c.status.as_str())
        .bind(c.username.as_deref())
        .bind(c.auth_time)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn device_code(&self, hash: &str) -> Result<Option<DeviceCode>> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM device_codes WHERE device_code_hash = $1"))
            .bind(hash)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn pending_user_code(&self, user_code: &str, now: UnixTime) -> Result<Option<DeviceCode>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM device_codes WHERE user_code = $1 AND status = 'pending' AND expires_at > $2"
        ))
        .bind(user_code)
        .bind(now)
        .fetch_optional(self.read())
        .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn decide_device_code(
        &self,
        user_code: &str,
        approved: bool,
        username: &str,
        auth_time: UnixTime,
        now: UnixTime,
    ) -> Result<bool> {
        let status = if approved { DeviceStatus::Approved } else { DeviceStatus::Denied };
        let done = sqlx::query(
            "UPDATE device_codes SET status = $1, username = $2, auth_time = $3 \
             WHERE user_code = $4 AND status = 'pending' AND expires_at > $5",
        )
        .bind(status.as_str())
        .bind(username)
        .bind(auth_time)
        .bind(user_code)
        .bind(now)
        .execute(self.write())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_poll(&self, hash: &str, now: UnixTime, interval_secs: i64) -> Result<()> {
        sqlx::query("UPDATE device_codes SET last_polled_at = $1, interval_secs = $2 WHERE device_code_hash = $3")
            .bind(now)
            .bind(interval_secs)
            .bind(hash)
            .execute(self.write())
            .await?;
        Ok(())
    }

    async fn redeem_device_code(&self, hash: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE device_codes SET status = 'redeemed' WHERE device_code_hash = $1 AND status = 'approved'",
        )
        .bind(hash)
        .execute(self.write())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn deny_approved_devices_of(&self, username: &str) -> Result<u64> {
        let done = sqlx::query("UPDATE device_codes SET status = 'denied' WHERE username = $1 AND status = 'approved'")
            .bind(username)
            .execute(self.write())
            .await?;
        Ok(done.rows_affected())
    }

    async fn purge_device_codes(&self, before: UnixTime) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM device_codes WHERE expires_at < $1").bind(before).execute(self.write()).await?;
        Ok(done.rows_affected())
    }
}

fn decode(row: &AnyRow) -> Result<DeviceCode> {
    let scopes: String = row.try_get("scopes")?;
    let status: String = row.try_get("status")?;
    Ok(DeviceCode {
        user_code: row.try_get("user_code")?,
        client_id: row.try_get("client_id")?,
        scopes: ScopeSet::parse(&scopes).map_err(|e| StoreError::Corrupt(format!("device code scopes: {e}")))?,
        grant_id: row.try_get("grant_id")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        interval_secs: row.try_get("interval_secs")?,
        last_polled_at: row.try_get("last_polled_at")?,
        status: DeviceStatus::parse(&status)?,
        username: row.try_get("username")?,
        auth_time: row.try_get("auth_time")?,
    })
}
