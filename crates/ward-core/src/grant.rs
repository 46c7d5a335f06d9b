//! What a caller asks the token endpoint for, once the form has been parsed.

use crate::client::GrantType;
use crate::scope::ScopeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRequest {
    /// RFC 6749 §4.4. `scope` is `None` when the parameter was absent (the client's
    /// default scopes apply), `Some` when it was present.
    ClientCredentials { scope: Option<ScopeSet> },
}

impl GrantRequest {
    pub fn grant_type(&self) -> GrantType {
        match self {
            Self::ClientCredentials { .. } => GrantType::ClientCredentials,
        }
    }
}
