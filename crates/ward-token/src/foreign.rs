//! Verifying JWTs that others signed (client assertions, RFC 7523) against a JWK set.
//! Only asymmetric algorithms are accepted: a shared-secret HMAC makes no sense against
//! published keys, and `none` is never a signature.

pub use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::de::DeserializeOwned;

use ward_core::VerifyAlg;

use crate::jws::MAX_JWS_LEN;

/// jsonwebtoken's name for one of the algorithms Ward accepts ([`VerifyAlg`], the one list).
pub fn jwt_alg(alg: VerifyAlg) -> Algorithm {
    match alg {
        VerifyAlg::ES256 => Algorithm::ES256,
        VerifyAlg::ES384 => Algorithm::ES384,
        VerifyAlg::EdDSA => Algorithm::EdDSA,
        VerifyAlg::RS256 => Algorithm::RS256,
        VerifyAlg::RS384 => Algorithm::RS384,
        VerifyAlg::RS512 => Algorithm::RS512,
        VerifyAlg::PS256 => Algorithm::PS256,
        VerifyAlg::PS384 => Algorithm::PS384,
        VerifyAlg::PS512 => Algorithm::PS512,
    }
}

/// The accepted algorithm a JWT header names; `None` for HMAC and anything else.
pub fn accepted(alg: Algorithm) -> Option<VerifyAlg> {
    VerifyAlg::ALL.into_iter().find(|v| jwt_alg(*v) == alg)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignJwtError {
    #[error("not a well-formed JWT")]
    Malformed,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("no matching key in the client's JWK set")]
    UnknownKey,
    #[error("expired")]
    Expired,
    #[error("signature or claims invalid: {0}")]
    Invalid(String),
}

/// What the claims must say.
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    /// At least one of these must be in `aud`.
    pub audiences: &'a [String],
    pub leeway_secs: u64,
    /// The verifier's clock, not the library's: `exp` and `nbf` are checked against it.
    pub now: ward_core::UnixTime,
}

/// Whether the JWT's header names a key that is in `jwks` (used to decide on a refetch).
pub fn kid_known(token: &str, jwks: &JwkSet) -> bool {
    match decode_header(token) {
        Ok(header) => match header.kid {
            Some(kid) => jwks.find(&kid).is_some(),
            None => !jwks.keys.is_empty(),
        },
        Err(_) => true,
    }
}

pub fn verify<C: DeserializeOwned>(
    token: &str,
    jwks: &JwkSet,
    expect: &Expectations<'_>,
) -> Result<C, ForeignJwtError> {
    if token.len() > MAX_JWS_LEN {
        return Err(ForeignJwtError::Malformed);
    }
    let header = decode_header(token).map_err(|_| ForeignJwtError::Malformed)?;
    if accepted(header.alg).is_none() {
        return Err(ForeignJwtError::Algorithm);
    }
    let jwk = match &header.kid {
        Some(kid) => jwks.find(kid),
        // Without a kid, a set of one key is unambiguous; anything else is a guess we refuse.
        None if jwks.keys.len() == 1 => jwks.keys.first(),
        None => None,
    }
    .ok_or(ForeignJwtError::UnknownKey)?;
    if let Some(key_alg) = jwk.common.key_algorithm
        && key_alg.to_string() != format!("{:?}", header.alg)
    {
        return Err(ForeignJwtError::Algorithm);
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| ForeignJwtError::UnknownKey)?;

    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expect.issuer]);
    validation.sub = Some(expect.subject.to_owned());
    validation.set_audience(expect.audiences);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = decode::<serde_json::Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| ForeignJwtError::Invalid(format!("{:?}", e.kind())))?;
    let leeway = i64::try_from(expect.leeway_secs).unwrap_or(i64::MAX);
    let exp = claims.get("exp").and_then(serde_json::Value::as_i64).ok_or(ForeignJwtError::Invalid("exp".into()))?;
    if exp.saturating_add(leeway) <= expect.now {
        return Err(ForeignJwtError::Expired);
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_i64().ok_or(ForeignJwtError::Invalid("nbf".into()))?;
        if nbf.saturating_sub(leeway) > expect.now {
            return Err(ForeignJwtError::Invalid("not yet valid (nbf)".into()));
        }
    }
    serde_json::from_value(claims).map_err(|e| ForeignJwtError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jws;
    use crate::key::{SigningKey, generate_pkcs8};
    use serde_json::{Value, json};
    use ward_core::{Clock, SigningAlg, SystemClock};

    fn setup() -> (SigningKey, JwkSet) {
        let key = SigningKey::from_pkcs8(SigningAlg::ES256, &generate_pkcs8(SigningAlg::ES256).unwrap()).unwrap();
        let set: JwkSet = serde_json::from_value(json!({"keys": [key.public_jwk()]})).unwrap();
        (key, set)
    }

    fn expect<'a>(aud: &'a [String]) -> Expectations<'a> {
        Expectations { issuer: "c1", subject: "c1", audiences: aud, leeway_secs: 5, now: SystemClock.now() }
    }

    #[test]
    fn accepts_a_good_assertion_and_refuses_wrong_claims() {
        let (key, set) = setup();
        let aud = vec!["https://id.example/oauth/token".to_owned()];
        let now = SystemClock.now();
        let good = jws::sign(&key, "JWT", &json!({"iss":"c1","sub":"c1","aud":aud[0],"exp":now+60,"jti":"j"})).unwrap();
        let claims: Value = verify(&good, &set, &expect(&aud)).unwrap();
        assert_eq!(claims["jti"], "j");

        let wrong_aud = jws::sign(&key, "JWT", &json!({"iss":"c1","sub":"c1","aud":"x","exp":now+60})).unwrap();
        assert!(matches!(verify::<Value>(&wrong_aud, &set, &expect(&aud)), Err(ForeignJwtError::Invalid(_))));
        let expired = jws::sign(&key, "JWT", &json!({"iss":"c1","sub":"c1","aud":aud[0],"exp":now-60})).unwrap();
        assert_eq!(verify::<Value>(&expired, &set, &expect(&aud)).unwrap_err(), ForeignJwtError::Expired);
        let no_exp = jws::sign(&key, "JWT", &json!({"iss":"c1","sub":"c1","aud":aud[0]})).unwrap();
        assert!(verify::<Value>(&no_exp, &set, &expect(&aud)).is_err());
        let not_yet =
            jws::sign(&key, "JWT", &json!({"iss":"c1","sub":"c1","aud":aud[0],"exp":now+600,"nbf":now+300})).unwrap();
        assert!(matches!(verify::<Value>(&not_yet, &set, &expect(&aud)), Err(ForeignJwtError::Invalid(_))));

        let (other, _) = setup();
        let foreign = jws::sign(&other, "JWT", &json!({"iss":"c1","sub":"c1","aud":aud[0],"exp":now+60})).unwrap();
        assert_eq!(verify::<Value>(&foreign, &set, &expect(&aud)).unwrap_err(), ForeignJwtError::UnknownKey);
        assert!(!kid_known(&foreign, &set));
        assert!(kid_known(&good, &set));
    }

    #[test]
    fn refuses_hmac_and_none() {
        let (_, set) = setup();
        let aud = vec!["a".to_owned()];
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &json!({"iss":"c1","sub":"c1","aud":"a","exp":SystemClock.now()+60}),
            &jsonwebtoken::EncodingKey::from_secret(b"k"),
        )
        .unwrap();
        assert_eq!(verify::<Value>(&hs, &set, &expect(&aud)).unwrap_err(), ForeignJwtError::Algorithm);
        let none = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJjMSJ9.";
        assert!(verify::<Value>(none, &set, &expect(&aud)).is_err());
    }
}
