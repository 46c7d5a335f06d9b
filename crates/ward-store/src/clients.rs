//! Registered clients.

use std::future::Future;
use std::str::FromStr;

use serde::Serialize;
use sqlx::Row as _;
use sqlx::any::AnyRow;
use ward_core::{ClientType, GrantType, RedirectUri, ScopeSet, TokenEndpointAuthMethod, UnixTime};

use crate::db::{SqlStore, flag};
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub grant_types: Vec<GrantType>,
    pub redirect_uris: Vec<RedirectUri>,
    /// Scopes the client may ask for. Also its default when it asks for none.
    pub scopes: ScopeSet,
    pub auth_method: TokenEndpointAuthMethod,
    /// Hex SHA-256 of the client secret; never the secret.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// A JWK set (JSON text), for `private_key_jwt`.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub skip_consent: bool,
    /// A resource server that may introspect tokens issued to other clients (RFC 7662 §4).
    pub may_introspect: bool,
    /// Roles its client-credentials tokens carry (what gates map to accounts).
    pub roles: Vec<String>,
    /// The tenant its client-credentials tokens carry.
    pub tenant: Option<String>,
    #[serde(flatten)]
    pub sign_in: SignInPolicy,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

/// How a client that signs people in must behave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignInPolicy {
    /// Where RP-initiated logout may send the browser back to, matched exactly.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// PKCE is always required of public clients; of confidential ones unless this is off.
    pub require_pkce: bool,
    /// Authorization requests must come through PAR (RFC 9126 §5).
    pub require_par: bool,
    /// Each refresh returns a new refresh token (rotation); off: the refresh token stays fixed.
    pub rotate_refresh_tokens: bool,
}

impl Default for SignInPolicy {
    fn default() -> Self {
        Self {
            post_logout_redirect_uris: Vec::new(),
            require_pkce: true,
            require_par: false,
            rotate_refresh_tokens: true,
        }
    }
}

pub trait ClientStore: Send + Sync {
    fn insert_client(&self, client: &ClientRecord) -> impl Future<Output = Result<()>> + Send;
    fn get_client(&self, client_id: &str) -> impl Future<Output = Result<Option<ClientRecord>>> + Send;
    fn list_clients(&self) -> impl Future<Output = Result<Vec<ClientRecord>>> + Send;
    /// Returns whether a client was deleted.
    fn delete_client(&self, client_id: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Replaces the secret hash; returns whether the client exists.
    fn set_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool>> + Send;
}

// A macro, not a const, so that `concat!` keeps every statement a `&'static str` (sqlx refuses
// runtime-built SQL text).
macro_rules! columns {
    () => {
        "client_id, name, client_type, grant_types, redirect_uris, scopes, auth_method, secret_hash, jwks, jwks_uri, skip_consent, may_introspect, roles, tenant, post_logout_redirect_uris, require_pkce, require_par, rotate_refresh_tokens, created_at, updated_at"
    };
}

impl ClientStore for SqlStore {
    async fn insert_client(&self, c: &ClientRecord) -> Result<()> {
        let grant_types: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
        let redirect_uris = serde_json::to_string(&c.redirect_uris).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let roles = serde_json::to_string(&c.roles).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let post_logout = serde_json::to_string(&c.sign_in.post_logout_redirect_uris)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(concat!(
            "INSERT INTO clients (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
        ))
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(c.client_type.as_str())
        .bind(grant_types.join(" "))
        .bind(redirect_uris)
        .bind(c.scopes.to_string())
        .bind(c.auth_method.as_str())
        .bind(c.secret_hash.as_deref())
        .bind(c.jwks.as_deref())
        .bind(c.jwks_uri.as_deref())
        .bind(i64::from(c.skip_consent))
        .bind(i64::from(c.may_introspect))
        .bind(roles)
        .bind(c.tenant.as_deref())
        .bind(post_logout)
        .bind(i64::from(c.sign_in.require_pkce))
        .bind(i64::from(c.sign_in.require_par))
        .bind(i64::from(c.sign_in.rotate_refresh_tokens))
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(self.write())
        .await
        .map_err(|e| match StoreError::from(e) {
            StoreError::Conflict(_) => StoreError::Conflict(format!("client {:?}", c.client_id)),
            other => other,
        })?;
        Ok(())
    }

    async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM clients WHERE client_id = $1"))
            .bind(client_id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<ClientRecord>> {
        let rows = sqlx::query(concat!("SELECT ", columns!(), " FROM clients ORDER BY client_id"))
            .fetch_all(self.read())
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM clients WHERE client_id = $1").bind(client_id).execute(self.write()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_client_secret(&self, client_id: &str, secret_hash: &str, now: UnixTime) -> Result<bool> {
        let done = sqlx::query("UPDATE clients SET secret_hash = $1, updated_at = $2 WHERE client_id = $3")
            .bind(secret_hash)
            .bind(now)
            .bind(client_id)
            .execute(self.write())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn decode(row: &AnyRow) -> Result<ClientRecord> {
    let client_id: String = row.try_get("client_id")?;
    let corrupt = |what: &str, detail: String| StoreError::Corrupt(format!("client {client_id:?} {what}: {detail}"));
    let parse_list = |text: String| -> Result<Vec<GrantType>> {
        text.split_whitespace()
            .map(|g| GrantType::from_str(g).map_err(|e| corrupt("grant_types", e.to_string())))
            .collect()
    };
    let redirect_uris: String = row.try_get("redirect_uris")?;
    let scopes: String = row.try_get("scopes")?;
    let client_type: String = row.try_get("client_type")?;
    let auth_method: String = row.try_get("auth_method")?;
    Ok(ClientRecord {
        name: row.try_get("name")?,
        client_type: client_type
            .parse()
            .map_err(|e: ward_core::client::UnknownValue| corrupt("client_type", e.to_string()))?,
        grant_types: parse_list(row.try_get("grant_types")?)?,
        redirect_uris: serde_json::from_str(&redirect_uris).map_err(|e| corrupt("redirect_uris", e.to_string()))?,
        scopes: ScopeSet::parse(&scopes).map_err(|e| corrupt("scopes", e.to_string()))?,
        auth_method: auth_method
            .parse()
            .map_err(|e: ward_core::client::UnknownValue| corrupt("auth_method", e.to_string()))?,
        secret_hash: row.try_get("secret_hash")?,
        jwks: row.try_get("jwks")?,
        jwks_uri: row.try_get("jwks_uri")?,
        skip_consent: flag(row.try_get("skip_consent")?),
        may_introspect: flag(row.try_get("may_introspect")?),
        roles: serde_json::from_str(&row.try_get::<String, _>("roles")?)
            .map_err(|e| corrupt("roles", e.to_string()))?,
        tenant: row.try_get("tenant")?,
        sign_in: SignInPolicy {
            post_logout_redirect_uris: serde_json::from_str(&row.try_get::<String, _>("post_logout_redirect_uris")?)
                .map_err(|e| corrupt("post_logout_redirect_uris", e.to_string()))?,
            require_pkce: flag(row.try_get("require_pkce")?),
            require_par: flag(row.try_get("require_par")?),
            rotate_refresh_tokens: flag(row.try_get("rotate_refresh_tokens")?),
        },
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        client_id,
    })
}
