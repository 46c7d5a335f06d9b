//! JWS signing algorithms Ward can sign with (RFC 7518 §3, RFC 8037).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SigningAlg {
    #[default]
    ES256,
    EdDSA,
    RS256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
        }
    }
}

impl FromStr for SigningAlg {
    type Err = crate::client::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            "RS256" => Ok(Self::RS256),
            _ => Err(crate::client::UnknownValue {
                kind: "signing algorithm",
                value: s.to_owned(),
                expected: "ES256 EdDSA RS256",
            }),
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// JWS algorithms Ward verifies others' tokens and assertions with: asymmetric only, since a
/// shared-secret HMAC makes no sense against published keys and `none` is never a signature.
/// The one allow-list: `[[trust]] algorithms`, gates' trust policies and client assertions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VerifyAlg {
    ES256,
    ES384,
    EdDSA,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
}

impl VerifyAlg {
    pub const ALL: [Self; 9] = [
        Self::ES256,
        Self::ES384,
        Self::EdDSA,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::EdDSA => "EdDSA",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
        }
    }
}

impl FromStr for VerifyAlg {
    type Err = crate::client::UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == s).ok_or_else(|| crate::client::UnknownValue {
            kind: "verification algorithm",
            value: s.to_owned(),
            expected: "ES256 ES384 EdDSA RS256 RS384 RS512 PS256 PS384 PS512",
        })
    }
}

impl fmt::Display for VerifyAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_algorithms_round_trip_and_refuse_symmetric_ones() {
        for alg in VerifyAlg::ALL {
            assert_eq!(alg.as_str().parse::<VerifyAlg>().ok(), Some(alg));
        }
        assert!("HS256".parse::<VerifyAlg>().is_err());
        assert!("none".parse::<VerifyAlg>().is_err());
    }
}
