//! RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6): a code for tokens, once.

use ward_core::{GrantType, OAuthError};
use ward_store::Redemption;
use ward_token::secret::{SecretHash, equal, pkce_s256};

use crate::client_auth::AuthenticatedClient;
use crate::grants::Issued;
use crate::id_token::{GrantTokens, NewRefresh};
use crate::server::{AuthorizationServer, Store};

/// One answer for every bad code, so that a caller learns nothing about codes it does not hold.
fn bad_code() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid, expired, used, or was issued to another client")
}

impl<S: Store> AuthorizationServer<S> {
    pub(crate) async fn authorization_code(
        &self,
        client: &AuthenticatedClient,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
    ) -> Result<Issued, OAuthError> {
        let now = self.clock.now();
        let redemption = self
            .store
            .redeem_code(&SecretHash::of(code).to_hex(), now)
            .await
            .map_err(|e| crate::internal("redeeming a code", e))?;
        let code = match redemption {
            Redemption::Redeemed(code) => code,
            Redemption::Unknown => return Err(bad_code()),
            Redemption::Replayed { grant_id } => {
                // RFC 6749 §4.1.2: a code used twice was stolen or leaked; whatever it gave
                // is revoked.
                tracing::warn!(client_id = client.id(), sid = %grant_id, "authorization code replayed; revoking its grant");
                self.revoke_grant(&grant_id).await.map_err(|e| crate::internal("revoking a grant", e))?;
                return Err(bad_code());
            }
        };
        // The code is spent from here on, whatever follows.
        if code.client_id != client.id() || code.expires_at <= now {
            return Err(bad_code());
        }
        if redirect_uri != Some(code.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's"));
        }
        match (&code.code_challenge, code_verifier) {
            (Some(challenge), Some(verifier)) => {
                ward_core::pkce::check_verifier(verifier)
                    .map_err(|_| OAuthError::invalid_grant("code_verifier is malformed"))?;
                if !equal(&pkce_s256(verifier), challenge) {
                    return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
                }
            }
            (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
            // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade.
            (None, Some(_)) => return Err(OAuthError::invalid_grant("no code_challenge was sent for this code")),
            (None, None) => {}
        }
        let (grant, user) =
            self.record_user_grant(&code.grant_id, client.id(), &code.username, &code.scopes, code.auth_time).await?;
        self.issue_for_grant(GrantTokens {
            client,
            grant: &grant,
            user: &user,
            scopes: &grant.scopes,
            grant_type: GrantType::AuthorizationCode,
            nonce: code.nonce.as_deref(),
            refresh: NewRefresh::First,
        })
        .await
    }
}
