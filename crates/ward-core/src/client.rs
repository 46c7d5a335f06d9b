//! What a registered client is allowed to be and do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// RFC 6749 §2.1: whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Confidential,
    Public,
}

/// Grant types a client may be allowed to use. Only those Ward implements are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    ClientCredentials,
    RefreshToken,
    /// RFC 8628.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

/// RFC 7591 §2 `token_endpoint_auth_method` values that Ward supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}; expected one of: {expected}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! string_enum {
    ($ty:ty, $kind:literal, { $($variant:path => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($variant => $text),+ }
            }
        }

        impl FromStr for $ty {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($variant),)+
                    _ => Err(UnknownValue {
                        kind: $kind,
                        value: s.to_owned(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(ClientType, "client type", {
    ClientType::Confidential => "confidential",
    ClientType::Public => "public",
});

string_enum!(GrantType, "grant type", {
    GrantType::AuthorizationCode => "authorization_code",
    GrantType::ClientCredentials => "client_credentials",
    GrantType::RefreshToken => "refresh_token",
    GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
});

string_enum!(TokenEndpointAuthMethod, "token endpoint auth method", {
    TokenEndpointAuthMethod::ClientSecretBasic => "client_secret_basic",
    TokenEndpointAuthMethod::ClientSecretPost => "client_secret_post",
    TokenEndpointAuthMethod::PrivateKeyJwt => "private_key_jwt",
    TokenEndpointAuthMethod::None => "none",
});

impl TokenEndpointAuthMethod {
    /// Whether this method authenticates with a Ward-generated shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    /// The authentication methods a client of `client_type` may register.
    pub fn allowed_for(self, client_type: ClientType) -> bool {
        match client_type {
            ClientType::Public => self == Self::None,
            ClientType::Confidential => self != Self::None,
        }
    }
}

impl GrantType {
    /// RFC 6749 §4.4: the client credentials grant is for confidential clients only.
    pub fn allowed_for(self, client_type: ClientType) -> bool {
        match self {
            Self::ClientCredentials => client_type == ClientType::Confidential,
            Self::AuthorizationCode | Self::RefreshToken | Self::DeviceCode => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_names() {
        for m in TokenEndpointAuthMethod::ALL {
            assert_eq!(m.as_str().parse::<TokenEndpointAuthMethod>().unwrap(), *m);
        }
        let err = "password".parse::<GrantType>().unwrap_err();
        assert!(err.to_string().contains("client_credentials"));
    }

    #[test]
    fn public_clients_cannot_hold_secrets_or_use_client_credentials() {
        assert!(!TokenEndpointAuthMethod::ClientSecretBasic.allowed_for(ClientType::Public));
        assert!(TokenEndpointAuthMethod::None.allowed_for(ClientType::Public));
        assert!(!TokenEndpointAuthMethod::None.allowed_for(ClientType::Confidential));
        assert!(!GrantType::ClientCredentials.allowed_for(ClientType::Public));
    }
}
