//! RFC 7009 token revocation.

use ward_core::OAuthError;

use crate::client_auth::AuthenticatedClient;
use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};

/// What a revocation request did, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// The access token with this `jti` is now revoked.
    AccessToken { jti: String },
    /// A refresh token: its whole grant is revoked (§2.1), refresh and access tokens alike.
    Grant { sid: String },
    /// Unknown, malformed or already expired: nothing to do, and 200 all the same (§2.2).
    Nothing,
}

impl<S: Store> AuthorizationServer<S> {
    /// `POST /oauth/revoke`, for an authenticated caller.
    pub async fn revoke(&self, caller: &AuthenticatedClient, params: &FormParams) -> Result<Revoked, OAuthError> {
        let token = params.require("token")?;
        let Some(claims) = self.verify_own_access_token(token).await else {
            return self.revoke_refresh_token(caller, token).await;
        };
        // §2.1: a client may only revoke tokens issued to it.
        if claims.client_id != caller.id() {
            return Err(OAuthError::unauthorized_client("the token was not issued to this client"));
        }
        let now = self.clock.now();
        if claims.exp <= now {
            return Ok(Revoked::Nothing);
        }
        self.store
            .revoke_jti(&claims.jti, claims.exp, now)
            .await
            .map_err(|e| crate::internal("recording a revocation", e))?;
        self.revocations.record(&claims.jti, claims.exp);
        Ok(Revoked::AccessToken { jti: claims.jti.clone() })
    }

    async fn revoke_refresh_token(&self, caller: &AuthenticatedClient, token: &str) -> Result<Revoked, OAuthError> {
        let hash = ward_token::secret::SecretHash::of(token).to_hex();
        let found =
            self.store.get_refresh_token(&hash).await.map_err(|e| crate::internal("reading a refresh token", e))?;
        let Some(found) = found else { return Ok(Revoked::Nothing) };
        if found.grant.client_id != caller.id() {
            return Err(OAuthError::unauthorized_client("the token was not issued to this client"));
        }
        self.revoke_grant(&found.grant.grant_id).await.map_err(|e| crate::internal("revoking a grant", e))?;
        Ok(Revoked::Grant { sid: found.grant.grant_id })
    }
}
