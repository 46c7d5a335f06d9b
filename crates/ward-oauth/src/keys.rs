//! The keyring in memory, backed by sealed keys in the store.
//!
//! A running node re-reads the keys every `key_reload_interval`. A rotation stages its key:
//! published from one reload interval on (so that every node has it before any publishes it,
//! and their JWKS stay identical), signing from `key_publish_ahead` on. A token whose `kid`
//! this node does not know makes it look that one key up in the store at once — a token from
//! another node is never reported inactive for want of a reload — with kids found missing
//! remembered for a while, so that junk kids cost one lookup each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use ward_core::sync::{lock, read, write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ward_core::{Entropy, SigningAlg, UnixTime};
use ward_store::{KeyStore, StoreError, StoredKey};
use ward_token::kek::KekError;
use ward_token::key::{KeyError, generate_pkcs8};
use ward_token::{KeyEncryptionKey, Keyring, ScheduledKey, SigningKey};

/// How long a `kid` the store did not have is not asked for again.
pub const UNKNOWN_KID_TTL_SECS: i64 = 10;

/// Kids remembered as unknown, at most; beyond, the memory starts over.
const UNKNOWN_KIDS_MAX: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum KeyManagerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {source}")]
    Unseal { kid: String, source: KekError },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the store holds no signing key")]
    NoActiveKey,
}

/// When a rotation's key is published and when it signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    pub published_from: UnixTime,
    pub active_from: UnixTime,
    /// Until when the key it replaces stays published.
    pub previous_published_until: UnixTime,
}

pub struct KeyManager {
    kek: KeyEncryptionKey,
    ring: RwLock<Arc<Keyring>>,
    unknown_kids: Mutex<HashMap<String, UnixTime>>,
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
        if published.is_empty() {
            let (stored, _) = seal_new_key(&kek, alg, now, now, now, entropy)?;
            if store.insert_first_key(&stored).await? {
                tracing::info!(kid = %stored.kid, alg = %alg, "generated the first signing key");
            }
            // Whether we or a racing node won, the store now says which key signs.
            published = store.published_keys(now).await?;
        }
        let ring = build_ring(&kek, &published)?;
        Ok(Self { kek, ring: RwLock::new(Arc::new(ring)), unknown_kids: Mutex::new(HashMap::new()) })
    }

    pub fn current(&self) -> Arc<Keyring> {
        read(&self.ring).clone()
    }

    pub async fn reload(&self, store: &impl KeyStore, now: UnixTime) -> Result<(), KeyManagerError> {
        let ring = Arc::new(build_ring(&self.kek, &store.published_keys(now).await?)?);
        *write(&self.ring) = ring;
        Ok(())
    }

    /// For a `kid` this node does not hold: looks it up in the store (unless it was found
    /// missing within `UNKNOWN_KID_TTL_SECS`) and, if it is there, reloads. Returns whether
    /// the keyring now holds it.
    pub async fn look_up(&self, store: &impl KeyStore, kid: &str, now: UnixTime) -> bool {
        let recently_missing = lock(&self.unknown_kids).get(kid).is_some_and(|&until| now < until);
        if recently_missing {
            return false;
        }
        match store.published_key(kid, now).await {
            Ok(Some(_)) => match self.reload(store, now).await {
                Ok(()) => self.current().get(kid).is_some(),
                Err(e) => {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                    false
                }
            },
            Ok(None) => {
                {
                    let mut missing = lock(&self.unknown_kids);
                    if missing.len() >= UNKNOWN_KIDS_MAX {
                        missing.clear();
                    }
                    missing.insert(kid.to_owned(), now.saturating_add(UNKNOWN_KID_TTL_SECS));
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "looking up a signing key failed");
                false
            }
        }
    }

    /// Stages a new key on `rotation`'s schedule and retires the newest one. Returns the new
    /// key id.
    pub async fn rotate(
        &self,
        store: &impl KeyStore,
        alg: SigningAlg,
        now: UnixTime,
        rotation: Rotation,
        entropy: &dyn Entropy,
    ) -> Result<String, KeyManagerError> {
        let (stored, kid) = seal_new_key(&self.kek, alg, now, rotation.published_from, rotation.active_from, entropy)?;
        store.rotate_key(&stored, rotation.previous_published_until).await?;
        self.reload(store, now).await?;
        Ok(kid)
    }
}

fn seal_new_key(
    kek: &KeyEncryptionKey,
    alg: SigningAlg,
    now: UnixTime,
    published_from: UnixTime,
    active_from: UnixTime,
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
        published_from,
        active_from,
        retired_at: None,
        publish_until: None,
    };
    Ok((stored, kid))
}

fn build_ring(kek: &KeyEncryptionKey, published: &[StoredKey]) -> Result<Keyring, KeyManagerError> {
    let mut keys = Vec::with_capacity(published.len());
    for stored in published {
        let unseal = |source| KeyManagerError::Unseal { kid: stored.kid.clone(), source };
        let sealed = STANDARD.decode(&stored.sealed_private_key).map_err(|_| unseal(KekError::Decrypt))?;
        let pkcs8 = kek.open(stored.kid.as_bytes(), &sealed).map_err(unseal)?;
        keys.push(ScheduledKey {
            key: Arc::new(SigningKey::from_pkcs8(stored.alg, &pkcs8)?),
            published_from: stored.published_from,
            active_from: stored.active_from,
            publish_until: stored.publish_until,
        });
    }
    Keyring::new(keys).ok_or(KeyManagerError::NoActiveKey)
}
