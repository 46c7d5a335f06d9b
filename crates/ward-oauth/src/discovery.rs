//! Authorization server metadata (RFC 8414). It advertises exactly what is implemented;
//! fields arrive with the features they describe. There is no OpenID configuration yet: Ward
//! issues no ID tokens, and an OpenID document would have to claim it does.

use serde_json::{Value, json};
use ward_core::{GrantType, TokenEndpointAuthMethod};
use ward_store::StoreError;
use ward_token::foreign::ASYMMETRIC_ALGS;

use crate::server::{AuthorizationServer, Store};

pub const TOKEN_PATH: &str = "/oauth/token";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// Authentication methods accepted at the token, introspection and revocation endpoints.
/// `none` is left out: no implemented grant lets a public client use these endpoints.
const AUTH_METHODS: &[TokenEndpointAuthMethod] = &[
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::PrivateKeyJwt,
];

impl<S: Store> AuthorizationServer<S> {
    pub async fn metadata(&self) -> Result<Value, StoreError> {
        let scopes: Vec<String> = self.store.list_scopes().await?.into_iter().map(|s| s.name).collect();
        let methods: Vec<&str> = AUTH_METHODS.iter().map(|m| m.as_str()).collect();
        let algs: Vec<String> = ASYMMETRIC_ALGS.iter().map(|a| format!("{a:?}")).collect();
        let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
        let s = &self.settings;
        Ok(json!({
            "issuer": s.issuer,
            "token_endpoint": s.endpoint(TOKEN_PATH),
            "jwks_uri": s.endpoint(JWKS_PATH),
            "introspection_endpoint": s.endpoint(INTROSPECT_PATH),
            "revocation_endpoint": s.endpoint(REVOKE_PATH),
            "grant_types_supported": grants,
            "response_types_supported": [],
            "scopes_supported": scopes,
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": algs,
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": algs,
        }))
    }
}
