//! One signing key: generated here, kept as PKCS#8, parsed once, published as a JWK whose
//! `kid` is its RFC 7638 thumbprint.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
    ParsedPublicKey, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use ward_core::SigningAlg;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("could not generate a {0} key")]
    Generate(SigningAlg),
    #[error("stored {0} key is not valid PKCS#8")]
    Parse(SigningAlg),
}

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A private key able to sign, with its public half ready for verification and publication.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    pair: Pair,
    verifier: ParsedPublicKey,
    jwk: Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// A fresh private key as PKCS#8 DER.
pub fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, KeyError> {
    let fail = |_| KeyError::Generate(alg);
    let rng = SystemRandom::new();
    Ok(match alg {
        SigningAlg::ES256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).map_err(fail)?.as_ref().to_vec()
        }
        SigningAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng).map_err(fail)?.as_ref().to_vec(),
        SigningAlg::RS256 => {
            let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail)?;
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(fail)?.as_ref().to_vec()
        }
    })
}

impl SigningKey {
    pub fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let bad = |_| KeyError::Parse(alg);
        let (pair, verify_alg, jwk): (Pair, &'static dyn signature::VerificationAlgorithm, Value) = match alg {
            SigningAlg::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(bad)?;
                let point = pair.public_key().as_ref();
                // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
                if point.len() != 65 {
                    return Err(KeyError::Parse(alg));
                }
                let jwk = json!({"crv": "P-256", "kty": "EC", "x": b64(&point[1..33]), "y": b64(&point[33..])});
                (Pair::Es256(pair), &ECDSA_P256_SHA256_FIXED, jwk)
            }
            SigningAlg::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(bad)?;
                let jwk = json!({"crv": "Ed25519", "kty": "OKP", "x": b64(pair.public_key().as_ref())});
                (Pair::EdDsa(pair), &signature::ED25519, jwk)
            }
            SigningAlg::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(bad)?;
                let parts = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                let jwk = json!({"e": b64(strip_zeros(&parts.e)), "kty": "RSA", "n": b64(strip_zeros(&parts.n))});
                (Pair::Rs256(pair), &signature::RSA_PKCS1_2048_8192_SHA256, jwk)
            }
        };
        let public = match &pair {
            Pair::Es256(p) => p.public_key().as_ref().to_vec(),
            Pair::EdDsa(p) => p.public_key().as_ref().to_vec(),
            Pair::Rs256(p) => p.public_key().as_ref().to_vec(),
        };
        let verifier = ParsedPublicKey::new(verify_alg, public).map_err(|_| KeyError::Parse(alg))?;
        let kid = thumbprint(&jwk);
        let mut jwk = jwk;
        if let Value::Object(map) = &mut jwk {
            map.insert("kid".into(), Value::String(kid.clone()));
            map.insert("alg".into(), Value::String(alg.as_str().into()));
            map.insert("use".into(), Value::String("sig".into()));
        }
        Ok(Self { kid, alg, pair, verifier, jwk })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    /// The public JWK, with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    pub fn verifier(&self) -> &ParsedPublicKey {
        &self.verifier
    }

    /// The JWS signature of `message` (for ES256, the fixed-width `r || s` RFC 7518 requires).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        // Signing with a key that parsed only fails on allocation failure inside aws-lc.
        #[allow(clippy::expect_used)]
        match &self.pair {
            Pair::Es256(p) => p.sign(&SystemRandom::new(), message).expect("ECDSA signing").as_ref().to_vec(),
            Pair::EdDsa(p) => p.sign(message).as_ref().to_vec(),
            Pair::Rs256(p) => {
                let mut sig = vec![0u8; p.public_modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut sig).expect("RSA signing");
                sig
            }
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, with no
/// whitespace. The `json!` maps above are built from exactly those members, and serde_json's
/// map keeps keys sorted, so serialising them is the canonical form.
pub fn thumbprint(required_members: &Value) -> String {
    let canonical = required_members.to_string();
    b64(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256] {
            let key = SigningKey::from_pkcs8(alg, &generate_pkcs8(alg).unwrap()).unwrap();
            let sig = key.sign(b"payload");
            assert!(key.verifier().verify_sig(b"payload", &sig).is_ok(), "{alg}");
            assert!(key.verifier().verify_sig(b"payloaf", &sig).is_err(), "{alg}");
            assert_eq!(key.public_jwk()["kid"], key.kid());
            assert_eq!(key.kid().len(), 43);
            if alg == SigningAlg::ES256 {
                assert_eq!(sig.len(), 64);
            }
        }
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({
            "e": "AQAB", "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        });
        assert_eq!(thumbprint(&jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(SigningKey::from_pkcs8(SigningAlg::ES256, b"junk").unwrap_err(), KeyError::Parse(SigningAlg::ES256));
        let ed = generate_pkcs8(SigningAlg::EdDSA).unwrap();
        assert!(SigningKey::from_pkcs8(SigningAlg::ES256, &ed).is_err());
    }
}
