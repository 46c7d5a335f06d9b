//! `AuthorizationServer`: what the transport holds, built once at start.

use std::sync::Arc;
use std::time::Duration;

use ward_core::{Clock, Entropy, SigningAlg};
use ward_store::{
    ClientStore, CodeStore, DeviceStore, GrantStore, KeyStore, ReplayStore, RevocationStore, ScopeStore, SessionStore,
    UserStore,
};
use ward_token::remote_jwks::JwksCache;
use ward_token::verified_cache::VerifiedCache;
use ward_token::{AccessTokenClaims, KeyEncryptionKey, Keyring};

use crate::client_cache::ClientCache;
use crate::grant_admin::ClientGrants;
use crate::keys::{KeyManager, KeyManagerError, Rotation};
use crate::revocation_cache::RevocationCache;
use crate::sign_in::SignInThrottle;
use crate::users::PasswordHashing;

/// Every storage capability the issuer uses.
pub trait Store:
    ClientStore
    + ScopeStore
    + KeyStore
    + RevocationStore
    + ReplayStore
    + UserStore
    + GrantStore
    + CodeStore
    + SessionStore
    + DeviceStore
    + Clone
    + 'static
{
}
impl<
    T: ClientStore
        + ScopeStore
        + KeyStore
        + RevocationStore
        + ReplayStore
        + UserStore
        + GrantStore
        + CodeStore
        + SessionStore
        + DeviceStore
        + Clone
        + 'static,
> Store for T
{
}

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
    /// How long a rotated-in key is published before it signs.
    pub key_publish_ahead: Duration,
    /// How often every node re-reads the keys.
    pub key_reload_interval: Duration,
    /// Names of the identity claims.
    pub claims: ClaimNames,
    pub sign_in: SignInSettings,
    /// argon2id cost of new password hashes.
    pub passwords: PasswordHashing,
}

/// The claim names under which tokens carry who their subject is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub roles: String,
    pub groups: String,
    pub tenant: String,
    pub email: String,
    pub name: String,
    pub preferred_username: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            roles: "roles".into(),
            groups: "groups".into(),
            tenant: "tenant".into(),
            email: "email".into(),
            name: "name".into(),
            preferred_username: "preferred_username".into(),
        }
    }
}

/// Lifetimes of what people signing in hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInSettings {
    pub session_ttl: Duration,
    pub authorization_code_ttl: Duration,
    pub pushed_request_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub grant_lifetime: Duration,
    pub refresh_reuse_grace: Duration,
    pub device_code_ttl: Duration,
    pub device_poll_interval: Duration,
}

impl Default for SignInSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            authorization_code_ttl: Duration::from_secs(60),
            pushed_request_ttl: Duration::from_secs(60),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3600),
            grant_lifetime: Duration::from_secs(90 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            device_code_ttl: Duration::from_secs(1800),
            device_poll_interval: Duration::from_secs(5),
        }
    }
}

impl Settings {
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub(crate) fn access_token_ttl_secs(&self) -> i64 {
        secs(self.access_token_ttl)
    }

    /// The JWKS `max-age`: half the publication lead, at most five minutes.
    pub fn jwks_max_age(&self) -> Duration {
        (self.key_publish_ahead / 2).min(Duration::from_secs(300))
    }
}

pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
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
    pub(crate) client_grants: ClientGrants,
    pub(crate) throttle: SignInThrottle,
    /// Wrong user codes, per browser session and per address.
    pub(crate) user_code_throttle: SignInThrottle,
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
        let horizon = settings.access_token_ttl + settings.client_cache_ttl + Duration::from_secs(60);
        let revocations = RevocationCache::new(settings.revocation_sync_interval, horizon);
        let verified = VerifiedCache::new(VERIFIED_CACHE_ENTRIES);
        let client_grants = ClientGrants::new(settings.client_cache_ttl);
        let throttle = SignInThrottle::default();
        Ok(Self {
            store,
            settings,
            keys,
            clients,
            clock,
            entropy,
            jwks,
            revocations,
            verified,
            client_grants,
            throttle,
            user_code_throttle: SignInThrottle::default(),
        })
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

    pub fn entropy(&self) -> &dyn Entropy {
        self.entropy.as_ref()
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Stages a new signing key: every node publishes it from one reload interval on and
    /// signs with it from `key_publish_ahead` on — or, `now`, at once (see [`Self::rotation`]).
    /// The key it replaces stays published until every token it signed has expired (the
    /// access-token lifetime plus a minute of clock skew).
    pub async fn rotate_signing_key(&self, alg: SigningAlg, now: bool) -> Result<(String, Rotation), KeyManagerError> {
        let rotation = self.rotation(now);
        let kid = self.keys.rotate(&self.store, alg, self.clock.now(), rotation, self.entropy.as_ref()).await?;
        Ok((kid, rotation))
    }

    /// The schedule of a rotation made now. Staged: published once every node has read it
    /// (one reload interval), signing once every node and every resource server's cached
    /// JWKS has it (`key_publish_ahead`). At once (an emergency, say a leaked key): published
    /// and signing now — resource servers that cached the JWKS refuse the new tokens until
    /// they fetch it again (up to the JWKS max-age), and other nodes sign with the old key
    /// until their next reload.
    pub fn rotation(&self, at_once: bool) -> Rotation {
        let now = self.clock.now();
        let (published_from, active_from) = if at_once {
            (now, now)
        } else {
            (
                now.saturating_add(secs(self.settings.key_reload_interval)),
                now.saturating_add(secs(self.settings.key_publish_ahead)),
            )
        };
        let previous_published_until =
            active_from.saturating_add(self.settings.access_token_ttl_secs()).saturating_add(60);
        Rotation { published_from, active_from, previous_published_until }
    }

    /// Re-reads the published keys, picking up rotations made by other nodes or the CLI.
    pub async fn reload_keys(&self) -> Result<(), KeyManagerError> {
        self.keys.reload(&self.store, self.clock.now()).await
    }
}
