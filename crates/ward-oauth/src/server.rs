//! `AuthorizationServer`: what the transport holds, built once at start.

use std::sync::Arc;
use std::time::Duration;

use ward_core::{Clock, Entropy, SigningAlg};
use ward_store::{ClientStore, KeyStore, ReplayStore, RevocationStore, ScopeStore};
use ward_token::remote_jwks::JwksCache;
use ward_token::verified_cache::VerifiedCache;
use ward_token::{AccessTokenClaims, KeyEncryptionKey, Keyring};

use crate::client_cache::ClientCache;
use crate::keys::{KeyManager, KeyManagerError};
use crate::revocation_cache::RevocationCache;

/// Every storage capability the issuer uses.
pub trait Store: ClientStore + ScopeStore + KeyStore + RevocationStore + ReplayStore + Clone + 'static {}
impl<T: ClientStore + ScopeStore + KeyStore + RevocationStore + ReplayStore + Clone + 'static> Store for T {}

/// The issuer's policy, taken from configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Issuer identifier, without a trailing slash.
    pub issuer: String,
    /// `aud` of issued access tokens.
    pub audience: Vec<String>,
    pub access_token_ttl: Duration,
    /// Algorithm for keys generated at first start or by rotation.
    pub signing_alg: SigningAlg,
    pub client_cache_ttl: Duration,
    pub max_assertion_lifetime: Duration,
    /// How often revocations made on other nodes are read in (0: ask the store every time).
    pub revocation_sync_interval: Duration,
}

impl Settings {
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub(crate) fn access_token_ttl_secs(&self) -> i64 {
        i64::try_from(self.access_token_ttl.as_secs()).unwrap_or(i64::MAX)
    }
}

pub struct AuthorizationServer<S> {
    pub(crate) store: S,
    pub(crate) settings: Settings,
    pub(crate) keys: KeyManager,
    pub(crate) clients: ClientCache,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) entropy: Arc<dyn Entropy>,
    pub(crate) jwks: JwksCache,
    pub(crate) revocations: RevocationCache,
    pub(crate) verified: VerifiedCache<AccessTokenClaims>,
}

/// Verified access tokens kept in memory; beyond this, the cache starts over.
const VERIFIED_CACHE_ENTRIES: usize = 100_000;

impl<S: Store> AuthorizationServer<S> {
    /// Loads the signing keys, generating the first one on a fresh database.
    pub async fn start(
        store: S,
        settings: Settings,
        kek: KeyEncryptionKey,
        clock: Arc<dyn Clock>,
        entropy: Arc<dyn Entropy>,
    ) -> Result<Self, KeyManagerError> {
        let keys = KeyManager::load(&store, kek, settings.signing_alg, clock.now(), entropy.as_ref()).await?;
        let clients = ClientCache::new(settings.client_cache_ttl);
        let jwks = JwksCache::new(Duration::from_secs(300), Duration::from_secs(10));
        let revocations = RevocationCache::new(settings.revocation_sync_interval);
        let verified = VerifiedCache::new(VERIFIED_CACHE_ENTRIES);
        Ok(Self { store, settings, keys, clients, clock, entropy, jwks, revocations, verified })
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn keyring(&self) -> Arc<Keyring> {
        self.keys.current()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Makes a new signing key active. The retired key stays published until every token it
    /// signed has expired (the access-token lifetime plus a minute of clock skew).
    pub async fn rotate_signing_key(&self, alg: SigningAlg) -> Result<String, KeyManagerError> {
        let now = self.clock.now();
        let publish_until = now.saturating_add(self.settings.access_token_ttl_secs()).saturating_add(60);
        self.keys.rotate(&self.store, alg, now, publish_until, self.entropy.as_ref()).await
    }

    /// Re-reads the published keys, picking up rotations made by other nodes or the CLI.
    pub async fn reload_keys(&self) -> Result<(), KeyManagerError> {
        self.keys.reload(&self.store, self.clock.now()).await
    }
}
