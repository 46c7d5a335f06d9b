//! Client, scope and key administration, as the CLI drives it. Runs against the store
//! directly, so it works while servers run; they see changes within the client cache TTL.

use std::collections::BTreeSet;

use serde::Serialize;
use ward_core::{
    ClientType, Clock, Entropy, GrantType, RedirectUri, Scope, ScopeSet, SigningAlg, TokenEndpointAuthMethod, UnixTime,
};
use ward_store::{ClientRecord, ClientStore, KeyStore, ScopeRecord, ScopeStore, SignInPolicy, StoreError, StoredKey};
use ward_token::foreign::JwkSet;
use ward_token::secret::{self, SecretHash};

use crate::client_auth::hash_to_hex;
use crate::client_cache::MAX_CLIENT_ID_LEN;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Store(other),
        }
    }
}

/// A client as the administrator describes it. Unset fields take defaults from the type.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub client_id: Option<String>,
    pub name: String,
    pub client_type: ClientType,
    pub grant_types: Option<Vec<GrantType>>,
    pub redirect_uris: Vec<String>,
    pub scopes: ScopeSet,
    pub auth_method: Option<TokenEndpointAuthMethod>,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub skip_consent: bool,
    /// A resource server that may introspect other clients' tokens.
    pub may_introspect: bool,
    /// Roles and tenant its client-credentials tokens carry.
    pub roles: Vec<String>,
    pub tenant: Option<String>,
    pub sign_in: SignInOptions,
}

/// How a client that signs people in behaves. The default is the strict one.
#[derive(Debug, Clone, Default)]
pub struct SignInOptions {
    pub post_logout_redirect_uris: Vec<String>,
    /// A confidential client may leave PKCE out (public clients never may).
    pub pkce_optional: bool,
    /// Authorization requests must be pushed first (RFC 9126).
    pub require_par: bool,
    /// Refresh tokens are not rotated: one refresh token for the grant's life.
    pub fixed_refresh_tokens: bool,
}

/// A created client, with its secret — the only time the secret is ever shown.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A signing key as `ward admin keys list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeySummary {
    pub kid: String,
    pub alg: SigningAlg,
    pub active: bool,
    pub created_at: UnixTime,
    pub published_from: UnixTime,
    pub active_from: UnixTime,
    pub retired_at: Option<UnixTime>,
    pub publish_until: Option<UnixTime>,
}

impl From<StoredKey> for KeySummary {
    fn from(k: StoredKey) -> Self {
        Self {
            kid: k.kid,
            alg: k.alg,
            active: k.active,
            created_at: k.created_at,
            published_from: k.published_from,
            active_from: k.active_from,
            retired_at: k.retired_at,
            publish_until: k.publish_until,
        }
    }
}

pub struct Admin<'a, S> {
    pub store: &'a S,
    pub clock: &'a dyn Clock,
    pub entropy: &'a dyn Entropy,
}

impl<S: ClientStore + ScopeStore + KeyStore> Admin<'_, S> {
    pub async fn create_client(&self, new: NewClient) -> Result<CreatedClient, AdminError> {
        let client_id = match new.client_id {
            Some(id) => validate_client_id(&id)?,
            None => ward_token::entropy::random_string(self.entropy, 16),
        };
        let name = new.name.trim().to_owned();
        if name.is_empty() || name.len() > 200 {
            return Err(AdminError::Invalid("a client needs a name of 1-200 characters".into()));
        }
        let auth_method = new.auth_method.unwrap_or(match new.client_type {
            ClientType::Confidential => TokenEndpointAuthMethod::ClientSecretBasic,
            ClientType::Public => TokenEndpointAuthMethod::None,
        });
        if !auth_method.allowed_for(new.client_type) {
            return Err(AdminError::Invalid(format!(
                "a {} client cannot use token endpoint auth method {auth_method}",
                new.client_type
            )));
        }
        // By default a client with redirect URIs signs people in through the browser; a public
        // one without (a CLI, a TV) signs them in with device codes; a confidential one without
        // acts for itself.
        let signs_in = !new.redirect_uris.is_empty();
        let grant_types = new.grant_types.unwrap_or_else(|| {
            let defaults: &[GrantType] = match (new.client_type, signs_in) {
                (ClientType::Public, true) => &[GrantType::AuthorizationCode, GrantType::RefreshToken],
                (ClientType::Public, false) => &[GrantType::DeviceCode, GrantType::RefreshToken],
                (ClientType::Confidential, true) => {
                    &[GrantType::AuthorizationCode, GrantType::ClientCredentials, GrantType::RefreshToken]
                }
                (ClientType::Confidential, false) => &[GrantType::ClientCredentials],
            };
            defaults.to_vec()
        });
        let grant_types: Vec<GrantType> = grant_types.into_iter().collect::<BTreeSet<_>>().into_iter().collect();
        if let Some(g) = grant_types.iter().find(|g| !g.allowed_for(new.client_type)) {
            return Err(AdminError::Invalid(format!("a {} client cannot use the {g} grant", new.client_type)));
        }
        if grant_types.is_empty() {
            return Err(AdminError::Invalid("a client needs at least one grant type".into()));
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && !signs_in {
            return Err(AdminError::Invalid(
                "the authorization_code grant needs a redirect URI (--redirect-uri)".into(),
            ));
        }
        if new.sign_in.pkce_optional && new.client_type == ClientType::Public {
            return Err(AdminError::Invalid("a public client must use PKCE".into()));
        }
        let roles: Vec<String> =
            new.roles.iter().map(|r| attribute("role", r)).collect::<Result<BTreeSet<_>, _>>()?.into_iter().collect();
        let tenant = new.tenant.as_deref().map(|t| attribute("tenant", t)).transpose()?;
        let redirect_uris = new
            .redirect_uris
            .iter()
            .map(|u| RedirectUri::parse(u).map_err(|e| AdminError::Invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let post_logout_redirect_uris = new
            .sign_in
            .post_logout_redirect_uris
            .iter()
            .map(|u| RedirectUri::parse(u).map_err(|e| AdminError::Invalid(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        self.check_scopes_declared(&new.scopes).await?;
        let (jwks, jwks_uri) = validate_keys(auth_method, new.jwks, new.jwks_uri)?;

        let client_secret = auth_method.uses_secret().then(|| secret::generate(self.entropy));
        let now = self.clock.now();
        let client = ClientRecord {
            client_id,
            name,
            client_type: new.client_type,
            grant_types,
            redirect_uris,
            scopes: new.scopes,
            auth_method,
            secret_hash: client_secret.as_deref().map(|s| hash_to_hex(&SecretHash::of(s))),
            jwks,
            jwks_uri,
            skip_consent: new.skip_consent,
            may_introspect: new.may_introspect,
            roles,
            tenant,
            sign_in: SignInPolicy {
                post_logout_redirect_uris,
                require_pkce: !new.sign_in.pkce_optional,
                require_par: new.sign_in.require_par,
                rotate_refresh_tokens: !new.sign_in.fixed_refresh_tokens,
            },
            created_at: now,
            updated_at: now,
        };
        self.store.insert_client(&client).await?;
        Ok(CreatedClient { client, client_secret })
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>, AdminError> {
        Ok(self.store.list_clients().await?)
    }

    pub async fn get_client(&self, client_id: &str) -> Result<ClientRecord, AdminError> {
        self.store.get_client(client_id).await?.ok_or_else(|| AdminError::NotFound(format!("client {client_id:?}")))
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<(), AdminError> {
        if self.store.delete_client(client_id).await? {
            Ok(())
        } else {
            Err(AdminError::NotFound(format!("client {client_id:?}")))
        }
    }

    /// Replaces the secret; the old one stops working (within the client cache TTL on
    /// running servers). Returns the new secret, shown once.
    pub async fn rotate_secret(&self, client_id: &str) -> Result<String, AdminError> {
        let client = self.get_client(client_id).await?;
        if !client.auth_method.uses_secret() {
            return Err(AdminError::Invalid(format!(
                "client {client_id:?} authenticates with {}, not a secret",
                client.auth_method
            )));
        }
        let new_secret = secret::generate(self.entropy);
        let hash = hash_to_hex(&SecretHash::of(&new_secret));
        if !self.store.set_client_secret(client_id, &hash, self.clock.now()).await? {
            return Err(AdminError::NotFound(format!("client {client_id:?}")));
        }
        Ok(new_secret)
    }

    pub async fn create_scope(&self, name: &str, description: &str) -> Result<ScopeRecord, AdminError> {
        let scope = Scope::parse(name).map_err(|e| AdminError::Invalid(e.to_string()))?;
        let now = self.clock.now();
        self.store.insert_scope(&scope, description, now).await?;
        Ok(ScopeRecord { name: scope.as_str().to_owned(), description: description.to_owned(), created_at: now })
    }

    pub async fn list_scopes(&self) -> Result<Vec<ScopeRecord>, AdminError> {
        Ok(self.store.list_scopes().await?)
    }

    /// Deletes a scope no client is allowed any more.
    pub async fn delete_scope(&self, name: &str) -> Result<(), AdminError> {
        let users: Vec<String> = self
            .store
            .list_clients()
            .await?
            .into_iter()
            .filter(|c| c.scopes.iter().any(|s| s.as_str() == name))
            .map(|c| c.client_id)
            .collect();
        if !users.is_empty() {
            return Err(AdminError::Invalid(format!(
                "scope {name:?} is still allowed for clients: {}",
                users.join(", ")
            )));
        }
        if self.store.delete_scope(name).await? { Ok(()) } else { Err(AdminError::NotFound(format!("scope {name:?}"))) }
    }

    pub async fn list_keys(&self) -> Result<Vec<KeySummary>, AdminError> {
        Ok(self.store.list_keys().await?.into_iter().map(KeySummary::from).collect())
    }

    async fn check_scopes_declared(&self, scopes: &ScopeSet) -> Result<(), AdminError> {
        if scopes.is_empty() {
            return Ok(());
        }
        let declared: ScopeSet =
            self.store.list_scopes().await?.iter().filter_map(|s| Scope::parse(&s.name).ok()).collect();
        let missing: Vec<&str> = scopes.not_in(&declared).map(Scope::as_str).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(AdminError::Invalid(format!(
                "undeclared scopes: {} (declare them with `ward admin scope create`)",
                missing.join(" ")
            )))
        }
    }
}

fn validate_client_id(id: &str) -> Result<String, AdminError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id.chars().all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c));
    if ok {
        Ok(id.to_owned())
    } else {
        Err(AdminError::Invalid(format!(
            "client id {id:?} must be 1-{MAX_CLIENT_ID_LEN} characters of A-Z a-z 0-9 - . _ ~"
        )))
    }
}

/// A role, group, tenant, email or name: 1-128 characters, no control characters, no surrounding spaces.
pub(crate) fn attribute(what: &str, value: &str) -> Result<String, AdminError> {
    let ok = !value.is_empty()
        && value.chars().count() <= 128
        && value.trim() == value
        && !value.chars().any(char::is_control);
    if ok {
        Ok(value.to_owned())
    } else {
        Err(AdminError::Invalid(format!(
            "a {what} is 1-128 characters, without control characters or surrounding spaces"
        )))
    }
}

/// `private_key_jwt` needs exactly one of an inline JWK set or a `jwks_uri`; other methods
/// take neither.
fn validate_keys(
    method: TokenEndpointAuthMethod,
    jwks: Option<String>,
    jwks_uri: Option<String>,
) -> Result<(Option<String>, Option<String>), AdminError> {
    if method != TokenEndpointAuthMethod::PrivateKeyJwt {
        if jwks.is_some() || jwks_uri.is_some() {
            return Err(AdminError::Invalid("a JWK set or jwks_uri only applies to private_key_jwt clients".into()));
        }
        return Ok((None, None));
    }
    match (jwks, jwks_uri) {
        (Some(text), None) => {
            let set: JwkSet = serde_json::from_str(&text)
                .map_err(|e| AdminError::Invalid(format!("the JWK set is not valid: {e}")))?;
            if set.keys.is_empty() {
                return Err(AdminError::Invalid("the JWK set has no keys".into()));
            }
            if set.keys.iter().any(|k| matches!(k.algorithm, ward_token::foreign::AlgorithmParameters::OctetKey(_))) {
                return Err(AdminError::Invalid("the JWK set must hold public keys only, not symmetric keys".into()));
            }
            // Stored compact, as parsed, so what is verified later is what was checked now.
            let compact = serde_json::to_string(&set).map_err(|e| AdminError::Invalid(e.to_string()))?;
            Ok((Some(compact), None))
        }
        (None, Some(uri)) => {
            let https = uri.starts_with("https://") && ward_core::loopback::url_host(&uri).is_some();
            if !(https || ward_core::loopback::is_loopback_http(&uri)) {
                return Err(AdminError::Invalid(
                    "jwks_uri must be an https URL (plain http only to localhost, 127.0.0.0/8 or ::1)".into(),
                ));
            }
            Ok((None, Some(uri)))
        }
        _ => Err(AdminError::Invalid("a private_key_jwt client needs exactly one of a JWK set or a jwks_uri".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwks_uri_is_https_or_plain_http_to_a_loopback_host() {
        let check = |uri: &str| validate_keys(TokenEndpointAuthMethod::PrivateKeyJwt, None, Some(uri.to_owned()));
        for ok in ["https://keys.example/jwks", "http://localhost:9/jwks", "http://127.0.0.1/jwks", "http://[::1]/j"] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost.evil.example/jwks",
            "http://localhost@evil.example/jwks",
            "http://127.0.0.1.nip.io/jwks",
            "http://keys.example/jwks",
            "https:///jwks",
            "ftp://localhost/jwks",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
