//! `[[trust]]` entries as verification policies. The configuration already holds typed
//! algorithms (`VerifyAlg`, the one allow-list), so nothing here can fail.

use ward_config::TrustConfig;
use ward_token::remote::TrustPolicy;

/// Builds a [`TrustPolicy`] from its configuration (`TrustPolicy` lives in `ward-token`).
pub trait FromTrustConfig {
    fn from_config(config: &TrustConfig) -> Self;
}

impl FromTrustConfig for TrustPolicy {
    fn from_config(t: &TrustConfig) -> Self {
        TrustPolicy {
            issuer: t.issuer.clone(),
            audiences: t.audiences.clone(),
            algorithms: t.algorithms.clone(),
            jwks_uri: t.jwks_uri.clone(),
            roles_claim: t.roles_claim.clone(),
            identity_claim: t.identity_claim.clone(),
            required_scopes: t.required_scopes.clone(),
            leeway: t.leeway,
            token_types: t.token_types.iter().map(|typ| normalise_type(typ)).collect(),
            max_lifetime: t.max_token_lifetime,
        }
    }
}

/// Every `[[trust]]` entry's policy.
pub fn policies(trust: &[TrustConfig]) -> Vec<TrustPolicy> {
    trust.iter().map(TrustPolicy::from_config).collect()
}

/// A `typ` as compared: lower case, without `application/` (RFC 7515 §4.1.9).
fn normalise_type(typ: &str) -> String {
    let typ = typ.to_ascii_lowercase();
    typ.strip_prefix("application/").map(str::to_owned).unwrap_or(typ)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(toml: &str) -> TrustConfig {
        toml::from_str(toml).expect("a valid [[trust]] entry")
    }

    #[test]
    fn defaults_and_types_as_the_verifier_compares_them() {
        let policy = TrustPolicy::from_config(&trust(
            r#"issuer = "https://id.example"
token_types = ["application/AT+JWT", "JWT"]"#,
        ));
        assert_eq!(policy.token_types, ["at+jwt", "jwt"]);
        assert_eq!(policy.audiences, ["ward"]);
        assert_eq!(policy.roles_claim, "roles");
        use ward_core::VerifyAlg::*;
        assert_eq!(policy.algorithms, [ES256, EdDSA, RS256, PS256]);
    }

    #[test]
    fn symmetric_algorithms_cannot_even_be_configured() {
        let refused = toml::from_str::<TrustConfig>(
            r#"issuer = "https://id.example"
algorithms = ["HS256"]"#,
        );
        assert!(refused.is_err_and(|e| e.to_string().contains("HS256")));
    }
}
