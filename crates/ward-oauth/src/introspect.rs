//! RFC 7662 token introspection, and the check of Ward's own access tokens that revocation
//! shares.

use std::sync::Arc;

use serde::Serialize;
use ward_core::{OAuthError, UnixTime};
use ward_token::access_token::ACCESS_TOKEN_TYP;
use ward_token::{AccessTokenClaims, Audience, jws};

use crate::client_auth::AuthenticatedClient;
use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};

/// The introspection response. Inactive tokens say nothing else (RFC 7662 §2.2).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Introspection {
    pub active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub details: Option<ActiveToken>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ActiveToken {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub client_id: String,
    pub token_type: &'static str,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub sub: String,
    pub aud: Audience,
    pub iss: String,
    pub jti: String,
}

impl Introspection {
    pub fn inactive() -> Self {
        Self { active: false, details: None }
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// `POST /oauth/introspect`, for an authenticated caller. Only the token's own client and
    /// registered resource servers (`may_introspect`) learn about a token; anyone else is told
    /// it is inactive, as RFC 7662 §4 allows, so a client cannot read another's tokens.
    pub async fn introspect(
        &self,
        caller: &AuthenticatedClient,
        params: &FormParams,
    ) -> Result<Introspection, OAuthError> {
        let token = params.require("token")?;
        // token_type_hint is only a hint (RFC 7662 §2.1); every kind Ward issues is tried.
        let Some(claims) = self.verify_own_access_token(token).await else { return Ok(Introspection::inactive()) };
        if !caller.record.may_introspect && caller.id() != claims.client_id {
            return Ok(Introspection::inactive());
        }
        let now = self.clock.now();
        if claims.exp <= now {
            return Ok(Introspection::inactive());
        }
        let revoked = self
            .revocations
            .is_revoked(&self.store, &claims.jti, claims.sid.as_deref(), now)
            .await
            .map_err(|e| crate::internal("checking a revocation", e))?;
        if revoked {
            return Ok(Introspection::inactive());
        }
        let claims = AccessTokenClaims::clone(&claims);
        Ok(Introspection {
            active: true,
            details: Some(ActiveToken {
                scope: claims.scope,
                client_id: claims.client_id,
                token_type: "Bearer",
                exp: claims.exp,
                iat: claims.iat,
                sub: claims.sub,
                aud: claims.aud,
                iss: claims.iss,
                jti: claims.jti,
            }),
        })
    }

    /// The claims of `token` if it is an access token this issuer signed and has not yet
    /// expired by the verified-token cache's reckoning (callers still check `exp`).
    pub(crate) async fn verify_own_access_token(&self, token: &str) -> Option<Arc<AccessTokenClaims>> {
        let now = self.clock.now();
        if let Some(claims) = self.verified.get(token, now) {
            return Some(claims);
        }
        let claims = Arc::new(self.verify_signature(token).await?);
        self.verified.insert(token, claims.exp, claims.clone(), now);
        Some(claims)
    }

    async fn verify_signature(&self, token: &str) -> Option<AccessTokenClaims> {
        let parsed = jws::parse(token).ok()?;
        if parsed.header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
            return None;
        }
        let kid = parsed.header.kid.as_deref()?;
        let mut keyring = self.keys.current();
        if keyring.get(kid).is_none() {
            // Perhaps another node rotated keys at once since we last looked.
            if !self.keys.look_up(&self.store, kid, self.clock.now()).await {
                return None;
            }
            keyring = self.keys.current();
        }
        let claims: AccessTokenClaims = parsed.verify(keyring.get(kid)?).ok()?;
        (claims.iss == self.settings.issuer).then_some(claims)
    }
}
