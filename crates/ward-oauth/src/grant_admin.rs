//! Grants: creating them, finding a client's own, and revoking them. A revocation is written
//! to the store (refresh tokens die at once, on every node, since every refresh reads the
//! grant) and recorded in this node's revocation view (its access tokens turn inactive at
//! introspection here at once, elsewhere within `revocation_sync_interval`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ward_core::sync::lock;

use ward_core::{OAuthError, ScopeSet, UnixTime};
use ward_store::{
    ClientStore, DeviceStore, GrantRecord, GrantStore, SessionStore, StoreError, SubjectKind, UserRecord,
};

use crate::server::{AuthorizationServer, Store};

/// A client-credentials grant lives this long; a fresh one is made after it.
const CLIENT_GRANT_LIFETIME_SECS: i64 = 365 * 24 * 3600;
/// More clients than any deployment has; beyond it the cache starts over.
const CLIENT_GRANTS_CACHED: usize = 10_000;

/// Each client's current client-credentials grant, so that issuing a token stays free of
/// database writes: one read per client per `ttl`.
pub(crate) struct ClientGrants {
    ttl: Duration,
    grants: Mutex<HashMap<String, (String, Instant)>>,
}

impl ClientGrants {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self { ttl, grants: Mutex::new(HashMap::new()) }
    }

    fn get(&self, client_id: &str) -> Option<String> {
        let grants = lock(&self.grants);
        let (grant_id, at) = grants.get(client_id)?;
        (at.elapsed() < self.ttl).then(|| grant_id.clone())
    }

    fn put(&self, client_id: &str, grant_id: &str) {
        let mut grants = lock(&self.grants);
        if grants.len() >= CLIENT_GRANTS_CACHED {
            grants.clear();
        }
        grants.insert(client_id.to_owned(), (grant_id.to_owned(), Instant::now()));
    }

    fn forget_grant(&self, grant_id: &str) {
        lock(&self.grants).retain(|_, (id, _)| id != grant_id);
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// A new grant id: 128 random bits.
    pub(crate) fn new_grant_id(&self) -> String {
        ward_token::entropy::random_string(self.entropy.as_ref(), 16)
    }

    /// The grant a client's own tokens belong to, made on first use.
    pub(crate) async fn client_grant(&self, client_id: &str, scopes: &ScopeSet) -> Result<String, OAuthError> {
        if let Some(grant_id) = self.client_grants.get(client_id) {
            return Ok(grant_id);
        }
        let now = self.clock.now();
        let found =
            self.store.live_client_grant(client_id, now).await.map_err(|e| crate::internal("reading a grant", e))?;
        let grant_id = match found {
            Some(grant) => grant.grant_id,
            None => {
                let grant = GrantRecord {
                    grant_id: self.new_grant_id(),
                    client_id: client_id.to_owned(),
                    subject_kind: SubjectKind::Client,
                    subject: client_id.to_owned(),
                    scopes: scopes.clone(),
                    auth_time: now,
                    created_at: now,
                    last_used_at: now,
                    expires_at: now.saturating_add(CLIENT_GRANT_LIFETIME_SECS),
                    revoked_at: None,
                };
                // Two nodes racing here make two grants of the same client: both are its own,
                // and revoking the client's grants revokes both.
                self.store.insert_grant(&grant).await.map_err(|e| crate::internal("recording a grant", e))?;
                grant.grant_id
            }
        };
        self.client_grants.put(client_id, &grant_id);
        Ok(grant_id)
    }

    /// A person's grant, recorded when their consent becomes tokens (a redeemed code, an
    /// approved device): the user must still be allowed to sign in.
    pub(crate) async fn record_user_grant(
        &self,
        grant_id: &str,
        client_id: &str,
        username: &str,
        scopes: &ScopeSet,
        auth_time: UnixTime,
    ) -> Result<(GrantRecord, UserRecord), OAuthError> {
        let user = self.store.get_user(username).await.map_err(|e| crate::internal("reading a user", e))?;
        let Some(user) = user.filter(|u| !u.disabled) else {
            return Err(OAuthError::invalid_grant("the user may no longer sign in"));
        };
        let now = self.clock.now();
        let grant = GrantRecord {
            grant_id: grant_id.to_owned(),
            client_id: client_id.to_owned(),
            subject_kind: SubjectKind::User,
            subject: user.username.clone(),
            scopes: scopes.clone(),
            auth_time,
            created_at: now,
            last_used_at: now,
            expires_at: now.saturating_add(crate::server::secs(self.settings.sign_in.grant_lifetime)),
            revoked_at: None,
        };
        self.store.insert_grant(&grant).await.map_err(|e| crate::internal("recording a grant", e))?;
        Ok((grant, user))
    }

    /// Revokes one grant. Returns whether it was live.
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let revoked = self.store.revoke_grant(grant_id, now).await?;
        self.revocations.record_grant(grant_id, now);
        self.client_grants.forget_grant(grant_id);
        if revoked {
            tracing::info!(sid = grant_id, "revoked grant");
        }
        Ok(revoked)
    }

    /// Revokes every grant of a user ("sign out everywhere"), and turns away devices they
    /// approved that have not collected their tokens yet. Their browser session stays.
    pub async fn revoke_all_grants(&self, username: &str) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let ids = revoke_all_grants(&self.store, username, now).await?;
        for id in &ids {
            self.revocations.record_grant(id, now);
        }
        Ok(ids.len())
    }

    /// Revokes one of `username`'s own grants. False when there is no such grant of theirs:
    /// another person's grant id changes nothing and says nothing.
    pub async fn revoke_own_grant(&self, username: &str, grant_id: &str) -> Result<bool, StoreError> {
        let own = self
            .store
            .get_grant(grant_id)
            .await?
            .is_some_and(|g| g.subject_kind == SubjectKind::User && g.subject == username);
        if !own {
            return Ok(false);
        }
        self.revoke_grant(grant_id).await?;
        Ok(true)
    }

    /// A person's grants, newest first, with their clients' names.
    pub async fn sessions_of(&self, username: &str) -> Result<Vec<UserSession>, StoreError> {
        sessions_of(&self.store, username, self.clock.now()).await
    }
}

/// One grant as its person sees it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UserSession {
    #[serde(flatten)]
    pub grant: GrantRecord,
    pub client_name: String,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
}

/// A person's grants, newest first, with their clients' names; `now` decides what has expired.
pub async fn sessions_of(
    store: &(impl GrantStore + ClientStore),
    username: &str,
    now: UnixTime,
) -> Result<Vec<UserSession>, StoreError> {
    let grants = store.grants_of_user(username).await?;
    let clients = store.list_clients().await?;
    Ok(grants
        .into_iter()
        .map(|grant| {
            let client_name = clients
                .iter()
                .find(|c| c.client_id == grant.client_id)
                .map_or_else(|| "(deleted client)".to_owned(), |c| c.name.clone());
            let state = match (grant.revoked_at, grant.expires_at > now) {
                (Some(_), _) => "revoked",
                (None, false) => "expired",
                (None, true) => "active",
            };
            UserSession { grant, client_name, state }
        })
        .collect())
}

/// Revokes every grant of `username` and denies the devices they approved that have not
/// collected their tokens; returns the grant ids. The CLI calls this directly: running nodes
/// pick the grants up at their next sync.
pub async fn revoke_all_grants(
    store: &(impl GrantStore + DeviceStore),
    username: &str,
    now: UnixTime,
) -> Result<Vec<String>, StoreError> {
    let ids = store.revoke_grants_of(SubjectKind::User, username, now).await?;
    store.deny_approved_devices_of(username).await?;
    Ok(ids)
}

/// What disabling or deleting a user does: every grant revoked, every browser session ended.
pub async fn revoke_user_grants(
    store: &(impl GrantStore + SessionStore + DeviceStore),
    username: &str,
    now: UnixTime,
) -> Result<Vec<String>, StoreError> {
    let ids = revoke_all_grants(store, username, now).await?;
    store.delete_sessions_of(username).await?;
    Ok(ids)
}
