//! RFC 6749 §6 with rotation (OAuth 2.1 §4.3.1): each refresh spends its refresh token and
//! returns a new one, its successor (one read and one insert; see `ward_store::grants`). A spent token presented again within `refresh_reuse_grace` (two tabs
//! refreshing at once) is honoured; after it, the reuse means the token was copied, and the
//! whole grant is revoked. Clients registered with fixed refresh tokens keep one for the
//! grant's life.

use ward_core::{GrantType, OAuthError, ScopeSet};
use ward_token::secret::SecretHash;

use crate::client_auth::AuthenticatedClient;
use crate::grants::Issued;
use crate::id_token::{GrantTokens, NewRefresh};
use crate::server::{AuthorizationServer, Store};

fn bad_token() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired, revoked, or was issued to another client")
}

impl<S: Store> AuthorizationServer<S> {
    pub(crate) async fn refresh_token(
        &self,
        client: &AuthenticatedClient,
        refresh_token: &str,
        requested: Option<ScopeSet>,
    ) -> Result<Issued, OAuthError> {
        let now = self.clock.now();
        let hash = SecretHash::of(refresh_token).to_hex();
        let record =
            self.store.get_refresh_token(&hash).await.map_err(|e| crate::internal("reading a refresh token", e))?;
        let Some(record) = record else { return Err(bad_token()) };
        let grant = &record.grant;
        if grant.client_id != client.id() || !grant.is_live(now) || record.expires_at <= now {
            return Err(bad_token());
        }
        let rotating = client.record.sign_in.rotate_refresh_tokens;
        let grace = crate::server::secs(self.settings.sign_in.refresh_reuse_grace);
        if rotating
            && let Some(spent) = record.rotated_at
            && now.saturating_sub(spent) > grace
        {
            tracing::warn!(client_id = client.id(), sid = %grant.grant_id, "spent refresh token reused; revoking its grant");
            self.revoke_grant(&grant.grant_id).await.map_err(|e| crate::internal("revoking a grant", e))?;
            return Err(bad_token());
        }
        // Scope may only narrow (§6); a new refresh token keeps the grant's scopes.
        let scopes = requested.unwrap_or_else(|| record.scopes.clone());
        if !scopes.is_subset(&record.scopes) {
            return Err(OAuthError::invalid_scope("a refresh may not ask for more scope than was granted"));
        }
        // Disabling a user revokes their grants; a user deleted behind the store's back is
        // caught here.
        let Some(user) = record.user.as_ref().filter(|u| !u.disabled) else {
            self.revoke_grant(&grant.grant_id).await.map_err(|e| crate::internal("revoking a grant", e))?;
            return Err(bad_token());
        };
        let refresh = if !rotating {
            self.store
                .touch_grant(&grant.grant_id, now)
                .await
                .map_err(|e| crate::internal("recording a refresh", e))?;
            NewRefresh::No
        } else if record.rotated_at.is_some() {
            NewRefresh::Beside
        } else {
            NewRefresh::Replacing(&hash)
        };
        self.issue_for_grant(GrantTokens {
            client,
            grant,
            user,
            scopes: &scopes,
            grant_type: GrantType::RefreshToken,
            nonce: None,
            refresh,
        })
        .await
    }
}
