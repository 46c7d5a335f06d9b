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
    /// Unknown, malformed or already expired: nothing to do, and 200 all the same (§2.2).
    Nothing,
}

impl<S: Store> AuthorizationServer<S> {
    /// `POST /oauth/revoke`, for an authenticated caller.
    pub async fn revoke(&self, caller: &AuthenticatedClient, params: &FormParams) -> Result<Revoked, OAuthError> {
        let token = params.require("token")?;
        let Some(claims) = self.verify_own_access_token(token).await else { return Ok(Revoked::Nothing) };
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
}
