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
    /// The newest key: the one a rotation retires. Not necessarily signing yet (see
    /// `active_from`).
    pub active: bool,
    pub created_at: UnixTime,
    /// In the JWKS from then on.
    pub published_from: UnixTime,
    /// Signs from then on, until a key with a later `active_from` takes over.
    pub active_from: UnixTime,
    /// When a rotation took it out of signing.
    pub retired_at: Option<UnixTime>,
    pub publish_until: Option<UnixTime>,
}

pub trait KeyStore: Send + Sync {
    /// Inserts `key` as the active key if there is none. Returns false when another node
    /// (or an earlier start) already made one active.
    fn insert_first_key(&self, key: &StoredKey) -> impl Future<Output = Result<bool>> + Send;
    /// Retires the newest key (it stops signing at `key.active_from`, and stays published until
    /// `publish_until`) and makes `key` the newest, atomically.
    fn rotate_key(&self, key: &StoredKey, publish_until: UnixTime) -> impl Future<Output = Result<()>> + Send;
    /// Every key not yet past its `publish_until` at `now` — staged ones included — newest first.
    fn published_keys(&self, now: UnixTime) -> impl Future<Output = Result<Vec<StoredKey>>> + Send;
    /// The key `kid` if it is among [`KeyStore::published_keys`].
    fn published_key(&self, kid: &str, now: UnixTime) -> impl Future<Output = Result<Option<StoredKey>>> + Send;
    /// Every key, newest first.
    fn list_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>>> + Send;
}

macro_rules! columns {
    () => {
        "kid, alg, private_key, active, created_at, retired_at, publish_until, published_from, active_from"
    };
}

impl SqlStore {
    async fn insert_key(&self, executor: impl sqlx::Executor<'_, Database = sqlx::Any>, key: &StoredKey) -> Result<()> {
        sqlx::query(concat!("INSERT INTO signing_keys (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&key.kid)
            .bind(key.alg.as_str())
            .bind(&key.sealed_private_key)
            .bind(i64::from(key.active))
            .bind(key.created_at)
            .bind(key.retired_at)
            .bind(key.publish_until)
            .bind(key.published_from)
            .bind(key.active_from)
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

    async fn rotate_key(&self, key: &StoredKey, publish_until: UnixTime) -> Result<()> {
        let mut tx = self.write().begin().await?;
        sqlx::query("UPDATE signing_keys SET active = 0, retired_at = $1, publish_until = $2 WHERE active = 1")
            .bind(key.active_from)
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
            " FROM signing_keys WHERE publish_until IS NULL OR publish_until > $1 ORDER BY active_from DESC, active DESC, created_at DESC"
        );
        let rows = sqlx::query(sql).bind(now).fetch_all(self.read()).await?;
        rows.iter().map(decode).collect()
    }

    async fn published_key(&self, kid: &str, now: UnixTime) -> Result<Option<StoredKey>> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " FROM signing_keys WHERE kid = $1 AND (publish_until IS NULL OR publish_until > $2)"
        );
        let row = sqlx::query(sql).bind(kid).bind(now).fetch_optional(self.read()).await?;
        row.as_ref().map(decode).transpose()
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
    let created_at: UnixTime = row.try_get("created_at")?;
    Ok(StoredKey {
        alg: alg.parse().map_err(|e| StoreError::Corrupt(format!("signing key {kid}: {e}")))?,
        sealed_private_key: row.try_get("private_key")?,
        active: flag(row.try_get("active")?),
        created_at,
        published_from: row.try_get::<Option<UnixTime>, _>("published_from")?.unwrap_or(created_at),
        active_from: row.try_get::<Option<UnixTime>, _>("active_from")?.unwrap_or(created_at),
        retired_at: row.try_get("retired_at")?,
        publish_until: row.try_get("publish_until")?,
        kid,
    })
}
