//! Opaque secrets (client secrets, refresh tokens, codes, session cookies): 256 bits from the
//! CSPRNG, handed out once, stored as SHA-256. High entropy needs no slow hash. Also the other
//! digests OAuth asks for: the PKCE `S256` transform and the OIDC `at_hash`.

use aws_lc_rs::digest;
use ward_core::Entropy;

use crate::entropy::random_string;

/// SHA-256 of a secret, the only form that is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretHash(pub [u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        let d = digest::digest(&digest::SHA256, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// Constant-time comparison of a presented secret against this hash.
    pub fn matches(&self, presented: &str) -> bool {
        let presented = Self::of(presented);
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.0, &presented.0).is_ok()
    }

    /// Lowercase hex, the form the store keeps.
    pub fn to_hex(&self) -> String {
        ward_core::hex::encode(&self.0)
    }

    /// A short, non-reversible tag for log lines: the first 8 hex digits of the hash.
    pub fn log_tag(&self) -> String {
        ward_core::hex::encode(&self.0[..4])
    }
}

/// A new 256-bit secret as 43 base64url characters.
pub fn generate(entropy: &dyn Entropy) -> String {
    random_string(entropy, 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsEntropy;

    #[test]
    fn generated_secrets_are_long_distinct_and_verifiable() {
        let a = generate(&OsEntropy);
        let b = generate(&OsEntropy);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        let h = SecretHash::of(&a);
        assert!(h.matches(&a));
        assert!(!h.matches(&b));
        assert!(!h.matches(""));
        assert_eq!(h.log_tag().len(), 8);
    }
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub fn pkce_s256(verifier: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// Constant-time string equality (for values derived from secrets).
pub fn equal(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// OIDC Core §3.1.3.6 `at_hash`: the left half of the hash the signing algorithm uses, in
/// base64url. EdDSA (Ed25519) hashes with SHA-512, as OpenID Connect specifies for it.
pub fn left_half_hash(alg: ward_core::SigningAlg, value: &str) -> String {
    use base64::Engine as _;
    let algorithm = match alg {
        ward_core::SigningAlg::EdDSA => &digest::SHA512,
        _ => &digest::SHA256,
    };
    let d = digest::digest(algorithm, value.as_bytes());
    let bytes = d.as_ref();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
mod digest_tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn at_hash_is_half_the_digest() {
        assert_eq!(left_half_hash(ward_core::SigningAlg::ES256, "x").len(), 22);
        assert_eq!(left_half_hash(ward_core::SigningAlg::EdDSA, "x").len(), 43);
    }
}
