//! Compact JWS (RFC 7515) with keys parsed once. Only what Ward's own tokens need: a
//! protected header of `alg`, `kid`, `typ`; no unencoded payloads, no `crit` extensions.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::key::SigningKey;

/// Longest compact JWS accepted for verification. Ward's tokens are well under 2 KiB;
/// the bound keeps a hostile caller from making us decode megabytes.
pub const MAX_JWS_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a compact JWS")]
    Malformed,
    #[error("signed with a key this issuer does not know")]
    UnknownKey,
    #[error("header algorithm does not match the key")]
    AlgorithmMismatch,
    #[error("header carries critical extensions")]
    CriticalHeader,
    #[error("signature does not verify")]
    BadSignature,
    #[error("claims are not valid JSON of the expected shape")]
    Claims,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crit: Option<Vec<String>>,
}

/// Signs `claims` with `key` under a header `{alg, kid, typ}`.
pub fn sign<C: Serialize>(key: &SigningKey, typ: &str, claims: &C) -> Result<String, serde_json::Error> {
    let header =
        Header { alg: key.alg().as_str().into(), kid: Some(key.kid().into()), typ: Some(typ.into()), crit: None };
    let header = serde_json::to_vec(&header)?;
    let claims = serde_json::to_vec(claims)?;
    let mut out = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 100);
    URL_SAFE_NO_PAD.encode_string(&header, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&claims, &mut out);
    let signature = key.sign(out.as_bytes());
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
    Ok(out)
}

/// The parts of a compact JWS, decoded but not yet verified.
pub struct Unverified<'a> {
    pub header: Header,
    signing_input: &'a str,
    payload_b64: &'a str,
    signature: Vec<u8>,
}

/// Splits and decodes a compact JWS without checking its signature.
pub fn parse(token: &str) -> Result<Unverified<'_>, JwsError> {
    if token.len() > MAX_JWS_LEN {
        return Err(JwsError::Malformed);
    }
    let (signing_input, signature_b64) = token.rsplit_once('.').ok_or(JwsError::Malformed)?;
    let (header_b64, payload_b64) = signing_input.split_once('.').ok_or(JwsError::Malformed)?;
    if payload_b64.contains('.') {
        return Err(JwsError::Malformed);
    }
    let header_json = URL_SAFE_NO_PAD.decode(header_b64).map_err(|_| JwsError::Malformed)?;
    let header: Header = serde_json::from_slice(&header_json).map_err(|_| JwsError::Malformed)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| JwsError::Malformed)?;
    Ok(Unverified { header, signing_input, payload_b64, signature })
}

impl Unverified<'_> {
    /// Verifies the signature with `key` and decodes the claims. The header's `alg` must be
    /// exactly the key's algorithm: the key decides, never the token.
    pub fn verify<C: DeserializeOwned>(&self, key: &SigningKey) -> Result<C, JwsError> {
        if self.header.crit.is_some() {
            return Err(JwsError::CriticalHeader);
        }
        if self.header.alg != key.alg().as_str() {
            return Err(JwsError::AlgorithmMismatch);
        }
        key.verifier()
            .verify_sig(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwsError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD.decode(self.payload_b64).map_err(|_| JwsError::Malformed)?;
        serde_json::from_slice(&payload).map_err(|_| JwsError::Claims)
    }
}

/// The claims of a JWS, decoded WITHOUT verifying its signature: only for choosing which key
/// to verify with (a client assertion's `iss` names the client whose keys apply).
/// Whether the header and the payload each name every member once (see [`crate::strict_json`]).
pub fn has_unique_names(token: &str) -> bool {
    let Ok(parsed) = parse(token) else { return false };
    let Some((header_b64, _)) = parsed.signing_input.split_once('.') else { return false };
    [header_b64, parsed.payload_b64]
        .iter()
        .all(|part| URL_SAFE_NO_PAD.decode(part).is_ok_and(|json| crate::strict_json::has_unique_names(&json)))
}

pub fn insecure_claims<C: DeserializeOwned>(token: &str) -> Option<C> {
    let parsed = parse(token).ok()?;
    let payload = URL_SAFE_NO_PAD.decode(parsed.payload_b64).ok()?;
    serde_json::from_slice(&payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::generate_pkcs8;
    use serde_json::{Value, json};
    use ward_core::SigningAlg;

    fn key(alg: SigningAlg) -> SigningKey {
        SigningKey::from_pkcs8(alg, &generate_pkcs8(alg).unwrap()).unwrap()
    }

    #[test]
    fn round_trip() {
        let k = key(SigningAlg::ES256);
        let token = sign(&k, "at+jwt", &json!({"sub": "a"})).unwrap();
        let parsed = parse(&token).unwrap();
        assert_eq!(parsed.header.kid.as_deref(), Some(k.kid()));
        assert_eq!(parsed.header.typ.as_deref(), Some("at+jwt"));
        let claims: Value = parsed.verify(&k).unwrap();
        assert_eq!(claims["sub"], "a");
    }

    #[test]
    fn refuses_tampering_foreign_keys_and_alg_games() {
        let k = key(SigningAlg::ES256);
        let other = key(SigningAlg::ES256);
        let token = sign(&k, "at+jwt", &json!({"sub": "a"})).unwrap();
        assert_eq!(parse(&token).unwrap().verify::<Value>(&other).unwrap_err(), JwsError::BadSignature);

        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin"}"#);
        let forged = parts.join(".");
        assert_eq!(parse(&forged).unwrap().verify::<Value>(&k).unwrap_err(), JwsError::BadSignature);

        for alg in ["none", "HS256", "RS256"] {
            let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, k.kid()));
            let t = format!("{header}.{}.{}", parts[1], parts[2]);
            assert_eq!(parse(&t).unwrap().verify::<Value>(&k).unwrap_err(), JwsError::AlgorithmMismatch, "{alg}");
        }

        let crit = URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","crit":["exp"]}"#);
        let t = format!("{crit}.{}.{}", parts[1], parts[2]);
        assert_eq!(parse(&t).unwrap().verify::<Value>(&k).unwrap_err(), JwsError::CriticalHeader);
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["", "a", "a.b", "a.b.c.d", "!!.e30.AA", &"a".repeat(MAX_JWS_LEN + 1)] {
            assert!(parse(bad).is_err(), "{bad:.20}");
        }
    }
}
