//! The UserInfo endpoint (OpenID Connect Core §5.3): who the bearer of an access token is, as
//! far as its scopes allow; and tokeninfo: what the token itself says.

use serde_json::{Map, Value, json};
use ward_core::{OAuthError, OAuthErrorCode, ScopeSet};
use ward_token::AccessTokenClaims;

use crate::server::{AuthorizationServer, Store};

fn invalid() -> OAuthError {
    OAuthError::invalid_token("the access token is invalid, expired or revoked")
}

impl<S: Store> AuthorizationServer<S> {
    /// The claims of a live access token this issuer signed: not expired, not revoked.
    async fn live_access_token(&self, access_token: &str) -> Result<std::sync::Arc<AccessTokenClaims>, OAuthError> {
        let claims = self.verify_own_access_token(access_token).await.ok_or_else(invalid)?;
        let now = self.clock.now();
        if claims.exp <= now {
            return Err(invalid());
        }
        let revoked = self
            .revocations
            .is_revoked(&self.store, &claims.jti, claims.sid.as_deref(), now)
            .await
            .map_err(|e| crate::internal("checking a revocation", e))?;
        if revoked {
            return Err(invalid());
        }
        Ok(claims)
    }

    /// `GET /oauth/tokeninfo`: what a live access token says, for whoever holds it.
    pub async fn tokeninfo(&self, access_token: &str) -> Result<AccessTokenClaims, OAuthError> {
        let claims = self.live_access_token(access_token).await?;
        Ok(AccessTokenClaims::clone(&claims))
    }

    pub async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, OAuthError> {
        let claims = self.live_access_token(access_token).await?;
        let scopes = ScopeSet::parse(claims.scope.as_deref().unwrap_or_default()).unwrap_or_default();
        if !scopes.has("openid") {
            return Err(OAuthError::new(OAuthErrorCode::InsufficientScope, "the access token lacks the openid scope"));
        }
        let user = self.store.get_user(&claims.sub).await.map_err(|e| crate::internal("reading a user", e))?;
        let user = user.filter(|u| !u.disabled).ok_or_else(invalid)?;
        let mut out = Map::new();
        out.insert("sub".into(), json!(user.username));
        out.extend(self.claims().of_user(&user, &scopes));
        Ok(out)
    }
}
