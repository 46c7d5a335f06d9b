//! Opaque secrets (client secrets now; refresh tokens and codes later): 256 bits from the
//! CSPRNG, handed out once, stored as SHA-256. High entropy needs no slow hash.

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

    /// A short, non-reversible tag for log lines: the first 8 hex digits of the hash.
    pub fn log_tag(&self) -> String {
        self.0[..4].iter().map(|b| format!("{b:02x}")).collect()
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
