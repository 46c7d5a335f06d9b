//! ID tokens (OpenID Connect Core §2) and the tokens a person's grant yields at the token
//! endpoint: an access token, perhaps a refresh token, and an ID token when `openid` was granted.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ward_core::{GrantType, OAuthError, ScopeSet, UnixTime};
use ward_store::{GrantRecord, NewRefreshToken, UserRecord};
use ward_token::jws;
use ward_token::secret::{SecretHash, left_half_hash};

use crate::client_auth::AuthenticatedClient;
use crate::grants::Issued;
use crate::server::{AuthorizationServer, Store};

/// The JOSE `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The client the token is for.
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    pub azp: String,
    pub sid: String,
    #[serde(flatten)]
    pub attributes: Map<String, Value>,
}

/// What the tokens of one exchange are issued from.
pub(crate) struct GrantTokens<'a> {
    pub client: &'a AuthenticatedClient,
    pub grant: &'a GrantRecord,
    pub user: &'a UserRecord,
    /// The access token's scopes: the grant's, or fewer.
    pub scopes: &'a ScopeSet,
    pub grant_type: GrantType,
    pub nonce: Option<&'a str>,
    /// Issue a new refresh token with the grant's scopes.
    pub refresh: NewRefresh<'a>,
}

/// Whether an exchange yields a refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NewRefresh<'a> {
    No,
    /// The first of a grant.
    First,
    /// The successor of the token with this hash.
    Replacing(&'a str),
    /// Another token beside the current one (a spent token reused within the grace window).
    Beside,
}

impl<S: Store> AuthorizationServer<S> {
    pub(crate) async fn issue_for_grant(&self, t: GrantTokens<'_>) -> Result<Issued, OAuthError> {
        let attributes = self.claims().of_user(t.user, t.scopes);
        let mut issued = self.issue_access_token(
            t.client,
            &t.user.username,
            t.scopes,
            t.grant_type,
            &t.grant.grant_id,
            attributes.clone(),
        )?;
        if t.refresh != NewRefresh::No && t.client.record.grant_types.contains(&GrantType::RefreshToken) {
            issued.response.refresh_token = Some(self.new_refresh_token(t.grant, t.refresh).await?);
        }
        if t.scopes.has("openid") {
            let now = self.clock.now();
            let keyring = self.keys.current();
            let key = keyring.signing_key(now);
            let claims = IdTokenClaims {
                iss: self.settings.issuer.clone(),
                sub: t.user.username.clone(),
                aud: t.client.id().to_owned(),
                exp: now.saturating_add(self.settings.access_token_ttl_secs()),
                iat: now,
                auth_time: t.grant.auth_time,
                nonce: t.nonce.map(str::to_owned),
                at_hash: Some(left_half_hash(key.alg(), &issued.response.access_token)),
                azp: t.client.id().to_owned(),
                sid: t.grant.grant_id.clone(),
                attributes,
            };
            let id_token =
                jws::sign(key, ID_TOKEN_TYP, &claims).map_err(|e| crate::internal("signing an ID token", e))?;
            issued.response.id_token = Some(id_token);
        }
        Ok(issued)
    }

    /// A fresh refresh token for `grant`, valid for `refresh_token_ttl` or until the grant ends.
    async fn new_refresh_token(&self, grant: &GrantRecord, kind: NewRefresh<'_>) -> Result<String, OAuthError> {
        let now = self.clock.now();
        let token = ward_token::secret::generate(self.entropy.as_ref());
        let hash = SecretHash::of(&token).to_hex();
        let mut new = NewRefreshToken {
            token_hash: &hash,
            grant_id: &grant.grant_id,
            scopes: &grant.scopes,
            created_at: now,
            expires_at: now
                .saturating_add(crate::server::secs(self.settings.sign_in.refresh_token_ttl))
                .min(grant.expires_at),
            parent_hash: match kind {
                NewRefresh::Replacing(parent) => Some(parent),
                _ => None,
            },
        };
        let failed = |e| crate::internal("recording a refresh token", e);
        if !self.store.insert_refresh_token(new).await.map_err(failed)? {
            // Another request rotated the same token a moment ago: two tabs refreshing at once,
            // inside the grace window by definition. This one gets a token beside it.
            new.parent_hash = None;
            self.store.insert_refresh_token(new).await.map_err(failed)?;
        }
        Ok(token)
    }

    /// The claims of an ID token this issuer signed, expired or not (for `id_token_hint`).
    pub fn verify_id_token_hint(&self, token: &str) -> Option<IdTokenClaims> {
        let parsed = jws::parse(token).ok()?;
        if parsed.header.typ.as_deref() != Some(ID_TOKEN_TYP) {
            return None;
        }
        let keyring = self.keys.current();
        let claims: IdTokenClaims = parsed.verify(keyring.get(parsed.header.kid.as_deref()?)?).ok()?;
        (claims.iss == self.settings.issuer).then_some(claims)
    }
}
