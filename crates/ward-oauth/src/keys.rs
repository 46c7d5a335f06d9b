//! The keyring in memory, backed by sealed keys in the store.
//!
//! A running node re-reads the published keys periodically (the server does so every
//! 30 s) and at once, rate-limited, when it meets a `kid` it does not know — so a rotation
//! made by the CLI or another node is picked up without a restart.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ward_core::{Entropy, SigningAlg, UnixTime};
use ward_store::{KeyStore, StoreError, StoredKey};
use ward_token::kek::KekError;
use ward_token::key::{KeyError, generate_pkcs8};
use ward_token::{KeyEncryptionKey, Keyring, SigningKey};

/// Shortest interval between reloads forced by unknown `kid`s.
pub const MIN_FORCED_RELOAD_SECS: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum KeyManagerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {source}")]
    Unseal { kid: String, source: KekError },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the store holds no active signing key")]
    NoActiveKey,
}

pub struct KeyManager {
    kek: KeyEncryptionKey,
    ring: RwLock<Arc<Keyring>>,
    last_reload: AtomicI64,
}

impl KeyManager {
    /// Loads the published keys; on a fresh store, generates, seals and stores the first.
    pub async fn load(
        store: &impl KeyStore,
        kek: KeyEncryptionKey,
        alg: SigningAlg,
        now: UnixTime,
        entropy: &dyn Entropy,
    ) -> Result<Self, KeyManagerError> {
        let mut published = store.published_keys(now).await?;
        if !published.iter().any(|k| k.active) {
            let (stored, _) = seal_new_key(&kek, alg, now, entropy)?;
            if store.insert_first_key(&stored).await? {
                tracing::info!(kid = %stored.kid, alg = %alg, "generated the first signing key");
            }
            // Whether we or a racing node won, the store now says which key is active.
            published = store.published_keys(now).await?;
        }
        let ring = build_ring(&kek, &published)?;
        Ok(Self { kek, ring: RwLock::new(Arc::new(ring)), last_reload: AtomicI64::new(now) })
    }

    pub fn current(&self) -> Arc<Keyring> {
        match self.ring.read() {
            Ok(ring) => ring.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub async fn reload(&self, store: &impl KeyStore, now: UnixTime) -> Result<(), KeyManagerError> {
        self.last_reload.store(now, Ordering::Relaxed);
        let ring = Arc::new(build_ring(&self.kek, &store.published_keys(now).await?)?);
        match self.ring.write() {
            Ok(mut slot) => *slot = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
        Ok(())
    }

    /// Reloads unless another reload happened within `MIN_FORCED_RELOAD_SECS`. Returns
    /// whether it reloaded.
    pub async fn reload_if_due(&self, store: &impl KeyStore, now: UnixTime) -> bool {
        let last = self.last_reload.load(Ordering::Relaxed);
        if now - last < MIN_FORCED_RELOAD_SECS
            || self.last_reload.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return false;
        }
        match self.reload(store, now).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "reloading signing keys failed");
                false
            }
        }
    }

    /// Makes a new key active. The old one keeps verifying, and stays in the JWKS, until
    /// `publish_until`. Returns the new key id.
    pub async fn rotate(
        &self,
        store: &impl KeyStore,
        alg: SigningAlg,
        now: UnixTime,
        publish_until: UnixTime,
        entropy: &dyn Entropy,
    ) -> Result<String, KeyManagerError> {
        let (stored, kid) = seal_new_key(&self.kek, alg, now, entropy)?;
        store.rotate_key(&stored, now, publish_until).await?;
        self.reload(store, now).await?;
        Ok(kid)
    }
}

fn seal_new_key(
    kek: &KeyEncryptionKey,
    alg: SigningAlg,
    now: UnixTime,
    entropy: &dyn Entropy,
) -> Result<(StoredKey, String), KeyManagerError> {
    let pkcs8 = generate_pkcs8(alg)?;
    let kid = SigningKey::from_pkcs8(alg, &pkcs8)?.kid().to_owned();
    let sealed = kek.seal(entropy, kid.as_bytes(), &pkcs8);
    let stored = StoredKey {
        kid: kid.clone(),
        alg,
        sealed_private_key: STANDARD.encode(sealed),
        active: true,
        created_at: now,
        retired_at: None,
        publish_until: None,
    };
    Ok((stored, kid))
}

fn build_ring(kek: &KeyEncryptionKey, published: &[StoredKey]) -> Result<Keyring, KeyManagerError> {
    let mut active = None;
    let mut others = Vec::new();
    for stored in published {
        let unseal = |source| KeyManagerError::Unseal { kid: stored.kid.clone(), source };
        let sealed = STANDARD.decode(&stored.sealed_private_key).map_err(|_| unseal(KekError::Decrypt))?;
        let pkcs8 = kek.open(stored.kid.as_bytes(), &sealed).map_err(unseal)?;
        let key = Arc::new(SigningKey::from_pkcs8(stored.alg, &pkcs8)?);
        if stored.active && active.is_none() {
            active = Some(key);
        } else {
            others.push(key);
        }
    }
    let active = active.ok_or(KeyManagerError::NoActiveKey)?;
    Ok(Keyring::new(active, others))
}
