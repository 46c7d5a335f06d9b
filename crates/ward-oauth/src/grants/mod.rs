//! The token endpoint (RFC 6749 §3.2): parse the grant, authenticate the client, dispatch.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use serde::Serialize;
use ward_core::{GrantRequest, GrantType, OAuthError, ScopeSet};
use ward_token::access_token::ACCESS_TOKEN_TYP;
use ward_token::{AccessTokenClaims, Audience, jws};

use crate::client_auth::{AuthenticatedClient, Presented};
use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// What one token request produced, for the transport's metrics and logs.
#[derive(Debug, Clone)]
pub struct Issued {
    pub response: TokenResponse,
    pub client_id: String,
    pub grant_type: GrantType,
    pub jti: String,
}

/// Reads `grant_type` and the grant's own parameters.
pub fn parse_grant(params: &FormParams) -> Result<GrantRequest, OAuthError> {
    let grant_type = params.require("grant_type")?;
    let scope = || {
        params.get("scope").map(ScopeSet::parse).transpose().map_err(|_| {
            OAuthError::invalid_scope("a scope is 1-128 printable ASCII characters without space, quote or backslash")
        })
    };
    match grant_type.parse::<GrantType>() {
        Ok(GrantType::ClientCredentials) => Ok(GrantRequest::ClientCredentials { scope: scope()? }),
        Ok(GrantType::AuthorizationCode) => Ok(GrantRequest::AuthorizationCode {
            code: params.require("code")?.to_owned(),
            redirect_uri: params.get("redirect_uri").map(str::to_owned),
            code_verifier: params.get("code_verifier").map(str::to_owned),
        }),
        Ok(GrantType::RefreshToken) => Ok(GrantRequest::RefreshToken {
            refresh_token: params.require("refresh_token")?.to_owned(),
            scope: scope()?,
        }),
        Ok(GrantType::DeviceCode) => {
            Ok(GrantRequest::DeviceCode { device_code: params.require("device_code")?.to_owned() })
        }
        Err(_) => Err(OAuthError::unsupported_grant_type("this grant_type is not supported")),
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// `POST /oauth/token`.
    pub async fn token(&self, presented: &Presented, params: &FormParams) -> Result<Issued, OAuthError> {
        let grant = parse_grant(params)?;
        let client = self.authenticate_client(presented, &self.settings.endpoint(crate::discovery::TOKEN_PATH)).await?;
        let grant_type = grant.grant_type();
        if !client.record.grant_types.contains(&grant_type) {
            return Err(OAuthError::unauthorized_client(ward_core::Description::naming(
                "this client may not use",
                grant_type.as_str(),
            )));
        }
        match grant {
            GrantRequest::ClientCredentials { scope } => self.client_credentials(&client, scope).await,
            GrantRequest::AuthorizationCode { code, redirect_uri, code_verifier } => {
                self.authorization_code(&client, &code, redirect_uri.as_deref(), code_verifier.as_deref()).await
            }
            GrantRequest::RefreshToken { refresh_token, scope } => {
                self.refresh_token(&client, &refresh_token, scope).await
            }
            GrantRequest::DeviceCode { device_code } => self.device_code_grant(&client, &device_code).await,
        }
    }

    /// Signs an access token. Writes nothing: the token is its own record until revoked.
    pub(crate) fn issue_access_token(
        &self,
        client: &AuthenticatedClient,
        subject: &str,
        scope: &ScopeSet,
        grant_type: GrantType,
        sid: &str,
        attributes: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Issued, OAuthError> {
        let now = self.clock.now();
        let ttl = self.settings.access_token_ttl_secs();
        let jti = ward_token::entropy::random_string(self.entropy.as_ref(), 16);
        let scope = (!scope.is_empty()).then(|| scope.to_string());
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: subject.to_owned(),
            aud: Audience::from_list(self.settings.audience.clone()),
            exp: now.saturating_add(ttl),
            iat: now,
            jti: jti.clone(),
            client_id: client.id().to_owned(),
            scope: scope.clone(),
            sid: Some(sid.to_owned()),
            attributes,
        };
        let keyring = self.keys.current();
        let access_token = jws::sign(keyring.signing_key(now), ACCESS_TOKEN_TYP, &claims)
            .map_err(|e| crate::internal("signing a token", e))?;
        Ok(Issued {
            response: TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: ttl,
                scope,
                refresh_token: None,
                id_token: None,
            },
            client_id: client.id().to_owned(),
            grant_type,
            jti,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_core::OAuthErrorCode;

    fn grant(body: &str) -> Result<GrantRequest, OAuthError> {
        parse_grant(&FormParams::parse(body.as_bytes()).unwrap())
    }

    #[test]
    fn parses_grants() {
        assert_eq!(grant("grant_type=client_credentials").unwrap(), GrantRequest::ClientCredentials { scope: None });
        assert!(
            matches!(grant("grant_type=client_credentials&scope=a+b").unwrap(), GrantRequest::ClientCredentials { scope: Some(s) } if s.len() == 2)
        );
        assert_eq!(grant("").unwrap_err().error, OAuthErrorCode::InvalidRequest);
        assert_eq!(grant("grant_type=password").unwrap_err().error, OAuthErrorCode::UnsupportedGrantType);
        assert_eq!(grant("grant_type=client_credentials&scope=a%22b").unwrap_err().error, OAuthErrorCode::InvalidScope);
    }
}
