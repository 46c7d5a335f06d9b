//! What a caller asks the token endpoint for, once the form has been parsed.

use crate::client::GrantType;
use crate::scope::ScopeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRequest {
    /// RFC 6749 §4.4. `scope` is `None` when the parameter was absent (the client's
    /// default scopes apply), `Some` when it was present.
    ClientCredentials { scope: Option<ScopeSet> },
    /// RFC 6749 §4.1.3 with RFC 7636 §4.5.
    AuthorizationCode { code: String, redirect_uri: Option<String>, code_verifier: Option<String> },
    /// RFC 6749 §6. `scope` may only narrow what the grant holds.
    RefreshToken { refresh_token: String, scope: Option<ScopeSet> },
    /// RFC 8628 §3.4.
    DeviceCode { device_code: String },
}

impl GrantRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
            Self::AuthorizationCode { .. } => GrantType::AuthorizationCode,
            Self::RefreshToken { .. } => GrantType::RefreshToken,
            Self::DeviceCode { .. } => GrantType::DeviceCode,
        }
    }
}
