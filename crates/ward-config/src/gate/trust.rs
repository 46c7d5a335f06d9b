//! `[[trust]]`: issuers whose access tokens gates accept, Ward's own or any OIDC issuer.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An issuer whose access tokens gates accept: Ward's own or any OIDC issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Exactly as the tokens' `iss` says it.
    pub issuer: String,
    /// Tokens must carry one of these in `aud`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
    /// Asymmetric JWS algorithms accepted from this issuer.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<ward_core::VerifyAlg>,
    /// Where the keys are; found by OIDC discovery when absent.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Claim with the caller's roles: a name (`roles`, `https://gprxy.io/roles`) or a dotted path.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim naming the caller; PostgreSQL clients' `user` must equal it (see `match_user`).
    #[serde(default = "default_identity_claim")]
    pub identity_claim: String,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// The JOSE `typ` header values accepted (RFC 9068 access tokens say `at+jwt`; some
    /// issuers send `JWT`). Compared case-insensitively, with or without `application/`.
    #[serde(default = "default_token_types")]
    pub token_types: Vec<String>,
    /// Tokens whose `exp` lies further ahead than this (from now, or from `iat`) are refused.
    #[serde(default = "default_max_token_lifetime", with = "humantime_serde")]
    pub max_token_lifetime: Duration,
    /// Accept an issuer (and its keys) over plain http on a host other than loopback.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

fn default_audiences() -> Vec<String> {
    vec!["ward".into()]
}
fn default_algorithms() -> Vec<ward_core::VerifyAlg> {
    use ward_core::VerifyAlg::*;
    vec![ES256, EdDSA, RS256, PS256]
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_identity_claim() -> String {
    "sub".into()
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}
/// The default `token_types`.
pub fn default_token_types() -> Vec<String> {
    vec!["at+jwt".into()]
}
/// The default `max_token_lifetime`: one day.
pub fn default_max_token_lifetime() -> Duration {
    Duration::from_secs(24 * 3600)
}
