//! Authorization server metadata (RFC 8414) and OpenID Provider metadata (OpenID Connect
//! Discovery 1.0 §3): one document, served at both well-known paths, advertising exactly what
//! is implemented.

use serde_json::{Value, json};
use ward_core::{GrantType, TokenEndpointAuthMethod};
use ward_store::StoreError;

use crate::server::{AuthorizationServer, Store};

pub const TOKEN_PATH: &str = "/oauth/token";
pub const INTROSPECT_PATH: &str = "/oauth/introspect";
pub const REVOKE_PATH: &str = "/oauth/revoke";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const OAUTH_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
pub const OPENID_METADATA_PATH: &str = "/.well-known/openid-configuration";
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const PAR_PATH: &str = "/oauth/par";
pub const USERINFO_PATH: &str = "/oauth/userinfo";
pub const END_SESSION_PATH: &str = "/oauth/logout";
pub const DEVICE_AUTHORIZATION_PATH: &str = "/oauth/device_authorization";
pub const TOKENINFO_PATH: &str = "/oauth/tokeninfo";

/// Authentication methods accepted at the token and revocation endpoints: public clients
/// (`none`) redeem codes and refresh tokens, and revoke them.
const TOKEN_AUTH_METHODS: &[TokenEndpointAuthMethod] = &[
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::PrivateKeyJwt,
    TokenEndpointAuthMethod::None,
];

/// Authentication methods accepted at the introspection, revocation and PAR endpoints.
const AUTH_METHODS: &[TokenEndpointAuthMethod] = &[
    TokenEndpointAuthMethod::ClientSecretBasic,
    TokenEndpointAuthMethod::ClientSecretPost,
    TokenEndpointAuthMethod::PrivateKeyJwt,
];

impl<S: Store> AuthorizationServer<S> {
    pub async fn metadata(&self) -> Result<Value, StoreError> {
        let scopes: Vec<String> = self.store.list_scopes().await?.into_iter().map(|s| s.name).collect();
        let methods: Vec<&str> = AUTH_METHODS.iter().map(|m| m.as_str()).collect();
        let token_methods: Vec<&str> = TOKEN_AUTH_METHODS.iter().map(|m| m.as_str()).collect();
        let c = &self.settings.claims;
        let claims = [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "azp",
            "sid",
            &c.roles,
            &c.groups,
            &c.tenant,
            &c.email,
            &c.name,
            &c.preferred_username,
        ];
        let algs: Vec<&str> = ward_core::VerifyAlg::ALL.iter().map(|a| a.as_str()).collect();
        let grants: Vec<&str> = GrantType::ALL.iter().map(|g| g.as_str()).collect();
        let s = &self.settings;
        Ok(json!({
            "issuer": s.issuer,
            "authorization_endpoint": s.endpoint(AUTHORIZE_PATH),
            "token_endpoint": s.endpoint(TOKEN_PATH),
            "pushed_authorization_request_endpoint": s.endpoint(PAR_PATH),
            "userinfo_endpoint": s.endpoint(USERINFO_PATH),
            "device_authorization_endpoint": s.endpoint(DEVICE_AUTHORIZATION_PATH),
            "end_session_endpoint": s.endpoint(END_SESSION_PATH),
            "jwks_uri": s.endpoint(JWKS_PATH),
            "introspection_endpoint": s.endpoint(INTROSPECT_PATH),
            "revocation_endpoint": s.endpoint(REVOKE_PATH),
            "grant_types_supported": grants,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "require_pushed_authorization_requests": false,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.keyring().signing_key(self.clock.now()).alg().as_str()],
            "userinfo_signing_alg_values_supported": ["none"],
            "claims_supported": claims,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "scopes_supported": scopes,
            "token_endpoint_auth_methods_supported": token_methods,
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "introspection_endpoint_auth_methods_supported": methods,
            "introspection_endpoint_auth_signing_alg_values_supported": algs,
            "revocation_endpoint_auth_methods_supported": token_methods,
            "revocation_endpoint_auth_signing_alg_values_supported": algs,
            "pushed_authorization_request_endpoint_auth_methods_supported": methods,
        }))
    }
}
