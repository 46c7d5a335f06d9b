//! Signing keys, sealed by the key-encryption key before they reach this layer.

use std::future::Future;

use sqlx::Row as _;
use sqlx::any::AnyRow;
use ward_core::{SigningAlg, UnixTime};

use crate::db::{SqlStore, flag};
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// Base64 of the sealed PKCS#8 document.
    pub sealed_private_key: String,
    pub active: bool,
    pub created_at: UnixTime,
    pub retired_at: Option<UnixTime>,
    pub publish_until: Option<UnixTime>,
}

pub trait KeyStore: Send + Sync {
    /// Inserts `key` as the active key if there is none. Returns false when another node
    /// (or an earlier start) already made one active.
    fn insert_first_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool>> + Send;
    /// Retires the active key (kept published until `publish_until`) and makes `key` active,
    /// atomically.
    fn rotate_key(
        &self,
        key: &StoredKey,
        now: UnixTime,
        publish_until: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The active key and the retired keys still published at `now`, active first.
    fn published_keys(&self, now: UnixTime) -> impl Future<Output = Result<Vec<StoredKey>>> + Send;
    /// Every key, newest first.
    fn list_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>>> + Send;
}

macro_rules! columns {
    () => {
        "kid, alg, private_key, active, created_at, retired_at, publish_until"
    };
}

impl SqlStore {
    async fn insert_key(&self, executor: impl sqlx::Executor<'_, Database = sqlx::Any>, key: &StoredKey) -> Result<()> {
        sqlx::query(concat!("INSERT INTO signing_keys (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&key.kid)
            .bind(key.alg.as_str())
            .bind(&key.sealed_private_key)
            .bind(i64::from(key.active))
            .bind(key.created_at)
            .bind(key.retired_at)
            .bind(key.publish_until)
            .execute(executor)
            .await?;
        Ok(())
    }
}

impl KeyStore for SqlStore {
    async fn insert_first_key(&self, key: &StoredKey) -> Result<bool> {
        match self.insert_key(self.write(), key).await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn rotate_key(&self, key: &StoredKey, now: UnixTime, publish_until: UnixTime) -> Result<()> {
        let mut tx = self.write().begin().await?;
        sqlx::query("UPDATE signing_keys SET active = 0, retired_at = $1, publish_until = $2 WHERE active = 1")
            .bind(now)
            .bind(publish_until)
            .execute(&mut *tx)
            .await?;
        self.insert_key(&mut *tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn published_keys(&self, now: UnixTime) -> Result<Vec<StoredKey>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM signing_keys WHERE active = 1 OR publish_until > $1 ORDER BY active DESC, created_at DESC"
        );
        let rows = sqlx::query(sql).bind(now).fetch_all(self.read()).await?;
        rows.iter().map(decode).collect()
    }

    async fn list_keys(&self) -> Result<Vec<StoredKey>> {
        let rows =
            sqlx::query(concat!("SELECT ", columns!(), " FROM signing_keys ORDER BY created_at DESC, active DESC"))
                .fetch_all(self.read())
                .await?;
        rows.iter().map(decode).collect()
    }
}

fn decode(row: &AnyRow) -> Result<StoredKey> {
    let kid: String = row.try_get("kid")?;
    let alg: String = row.try_get("alg")?;
    Ok(StoredKey {
        alg: alg.parse().map_err(|e| StoreError::Corrupt(format!("signing key {kid}: {e}")))?,
        sealed_private_key: row.try_get("private_key")?,
        active: flag(row.try_get("active")?),
        created_at: row.try_get("created_at")?,
        retired_at: row.try_get("retired_at")?,
        publish_until: row.try_get("publish_until")?,
        kid,
    })
}
