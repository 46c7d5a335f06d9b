//! PKCE (RFC 7636) syntax. Only `S256` is accepted: `plain` protects nothing against an
//! attacker who can read the authorization request, and OAuth 2.1 lets a server refuse it.
//! Hashing the verifier is done where the crypto lives (`ward-oauth`).

/// A `code_challenge` for method `S256`: the base64url (no padding) SHA-256 of a verifier,
/// which is always 43 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    #[error("code_challenge_method must be S256")]
    UnsupportedMethod,
    #[error("code_challenge must be 43 base64url characters")]
    MalformedChallenge,
    #[error("code_verifier must be 43-128 characters of A-Z a-z 0-9 - . _ ~")]
    MalformedVerifier,
}

impl CodeChallenge {
    /// `method` is the `code_challenge_method` parameter; absent means `plain` (RFC 7636
    /// §4.3), which is refused.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        if method != Some("S256") {
            return Err(PkceError::UnsupportedMethod);
        }
        let base64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if challenge.len() != 43 || !challenge.bytes().all(base64url) {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// A challenge read back from storage, where it was put by [`Self::parse`].
    pub fn from_stored(challenge: String) -> Self {
        Self(challenge)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a `code_verifier`'s syntax (RFC 7636 §4.1).
pub fn check_verifier(verifier: &str) -> Result<(), PkceError> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if (43..=128).contains(&verifier.len()) && verifier.bytes().all(unreserved) {
        Ok(())
    } else {
        Err(PkceError::MalformedVerifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_s256_with_a_well_formed_challenge() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(CodeChallenge::parse(c, Some("S256")).unwrap().as_str(), c);
        assert_eq!(CodeChallenge::parse(c, None), Err(PkceError::UnsupportedMethod));
        assert_eq!(CodeChallenge::parse(c, Some("plain")), Err(PkceError::UnsupportedMethod));
        assert_eq!(CodeChallenge::parse(c, Some("s256")), Err(PkceError::UnsupportedMethod));
        assert_eq!(CodeChallenge::parse(&c[1..], Some("S256")), Err(PkceError::MalformedChallenge));
        assert_eq!(CodeChallenge::parse(&c.replace('-', "+"), Some("S256")), Err(PkceError::MalformedChallenge));
    }

    #[test]
    fn verifier_syntax() {
        assert!(check_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").is_ok());
        assert!(check_verifier(&"a".repeat(128)).is_ok());
        assert!(check_verifier(&"a".repeat(42)).is_err());
        assert!(check_verifier(&"a".repeat(129)).is_err());
        assert!(check_verifier(&format!("{}+", "a".repeat(43))).is_err());
    }
}
