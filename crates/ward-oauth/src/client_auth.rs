//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3, RFC 7523 §2.2 and §3, OIDC Core §9).
//!
//! Every failure answers `invalid_client` with the same description, so a caller cannot tell
//! an unknown client from a wrong secret; the reason goes to the log, keyed by client id.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use ward_core::{OAuthError, TokenEndpointAuthMethod, UnixTime};
use ward_store::ClientRecord;
use ward_token::foreign::{self, Expectations, ForeignJwtError, JwkSet};
use ward_token::secret::SecretHash;

use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};

pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Clock skew tolerated on assertion `exp`, `nbf` and `iat`.
const ASSERTION_LEEWAY_SECS: i64 = 30;

/// Credentials as the request presented them, before any lookup.
#[derive(Clone, PartialEq, Eq)]
pub enum Presented {
    Basic {
        client_id: String,
        secret: String,
    },
    Post {
        client_id: String,
        secret: String,
    },
    Assertion {
        client_id: Option<String>,
        assertion: String,
    },
    /// A public client identifying itself with `client_id` alone.
    PublicId {
        client_id: String,
    },
    Nothing,
}

impl std::fmt::Debug for Presented {
    // Secrets and assertions never reach a log line, even through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { client_id, .. } => write!(f, "Basic({client_id})"),
            Self::Post { client_id, .. } => write!(f, "Post({client_id})"),
            Self::Assertion { client_id, .. } => write!(f, "Assertion({client_id:?})"),
            Self::PublicId { client_id } => write!(f, "PublicId({client_id})"),
            Self::Nothing => f.write_str("Nothing"),
        }
    }
}

impl Presented {
    /// Reads credentials from the `Authorization` header and the form. More than one
    /// method in one request is refused (RFC 6749 §2.3).
    pub fn from_request(authorization: Option<&str>, params: &FormParams) -> Result<Self, OAuthError> {
        let basic = authorization.map(parse_basic).transpose()?;
        let post_secret = params.get("client_secret");
        let assertion = params.get("client_assertion");
        let client_id = params.get("client_id");
        let methods =
            usize::from(basic.is_some()) + usize::from(post_secret.is_some()) + usize::from(assertion.is_some());
        if methods > 1 {
            return Err(OAuthError::invalid_request("use exactly one client authentication method"));
        }
        if let Some((id, secret)) = basic {
            if client_id.is_some_and(|c| c != id) {
                return Err(OAuthError::invalid_request("client_id does not match the Authorization header"));
            }
            return Ok(Self::Basic { client_id: id, secret });
        }
        if let Some(secret) = post_secret {
            let id = client_id.ok_or_else(|| OAuthError::invalid_request("client_secret without client_id"))?;
            return Ok(Self::Post { client_id: id.to_owned(), secret: secret.to_owned() });
        }
        if let Some(assertion) = assertion {
            if params.get("client_assertion_type") != Some(JWT_BEARER_ASSERTION) {
                return Err(OAuthError::invalid_request(ward_core::Description::naming(
                    "client_assertion_type must be",
                    JWT_BEARER_ASSERTION,
                )));
            }
            return Ok(Self::Assertion { client_id: client_id.map(str::to_owned), assertion: assertion.to_owned() });
        }
        Ok(match client_id {
            Some(id) => Self::PublicId { client_id: id.to_owned() },
            None => Self::Nothing,
        })
    }

    /// Whether the caller tried HTTP Basic, which obliges a 401 with `WWW-Authenticate`.
    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let (scheme, rest) = header.trim().split_once(' ').ok_or_else(OAuthError::invalid_client)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client());
    }
    let decoded = STANDARD.decode(rest.trim()).map_err(|_| OAuthError::invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
    let id = form_decode(id);
    if id.is_empty() {
        return Err(OAuthError::invalid_client());
    }
    Ok((id, form_decode(secret)))
}

fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// A client whose credentials checked out.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    pub record: Arc<ClientRecord>,
    pub method: TokenEndpointAuthMethod,
}

impl AuthenticatedClient {
    pub fn id(&self) -> &str {
        &self.record.client_id
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    jti: Option<String>,
    exp: UnixTime,
    iat: Option<UnixTime>,
}

#[derive(Deserialize)]
struct IssuerOnly {
    iss: Option<String>,
}

impl<S: Store> AuthorizationServer<S> {
    /// Authenticates the caller of `endpoint` (its URL is an acceptable assertion audience).
    pub async fn authenticate_client(
        &self,
        presented: &Presented,
        endpoint: &str,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let now = self.clock.now();
        let (client_id, method) = match presented {
            Presented::Basic { client_id, .. } => (client_id.clone(), TokenEndpointAuthMethod::ClientSecretBasic),
            Presented::Post { client_id, .. } => (client_id.clone(), TokenEndpointAuthMethod::ClientSecretPost),
            Presented::PublicId { client_id } => (client_id.clone(), TokenEndpointAuthMethod::None),
            Presented::Assertion { client_id, assertion } => {
                let iss = ward_token::jws::insecure_claims::<IssuerOnly>(assertion).and_then(|c| c.iss);
                let Some(iss) = iss else { return Err(reject("-", "client assertion has no iss")) };
                if client_id.as_ref().is_some_and(|c| *c != iss) {
                    return Err(reject(&iss, "client_id differs from the assertion's iss"));
                }
                (iss, TokenEndpointAuthMethod::PrivateKeyJwt)
            }
            Presented::Nothing => return Err(reject("-", "no client credentials")),
        };
        let record = self
            .clients
            .get(&self.store, &client_id, now)
            .await
            .map_err(|e| crate::internal("reading a client", e))?
            .ok_or_else(|| reject(&client_id, "unknown client"))?;
        if record.auth_method != method {
            return Err(reject(&client_id, &format!("registered for {}, tried {method}", record.auth_method)));
        }
        match presented {
            Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
                let stored = record.secret_hash.as_deref().and_then(hex_hash);
                if !stored.is_some_and(|h| h.matches(secret)) {
                    return Err(reject(&client_id, "wrong client secret"));
                }
            }
            Presented::Assertion { assertion, .. } => self.check_assertion(&record, assertion, endpoint, now).await?,
            Presented::PublicId { .. } | Presented::Nothing => {}
        }
        Ok(AuthenticatedClient { record, method })
    }

    async fn check_assertion(
        &self,
        client: &ClientRecord,
        assertion: &str,
        endpoint: &str,
        now: UnixTime,
    ) -> Result<(), OAuthError> {
        let id = client.client_id.as_str();
        let jwks = self.client_jwks(client, assertion).await?;
        let audiences =
            [self.settings.issuer.clone(), self.settings.endpoint(crate::discovery::TOKEN_PATH), endpoint.to_owned()];
        let expect = Expectations {
            issuer: id,
            subject: id,
            audiences: &audiences,
            leeway_secs: ASSERTION_LEEWAY_SECS as u64,
            now,
        };
        let claims: AssertionClaims = foreign::verify(assertion, &jwks, &expect).map_err(|e| match e {
            ForeignJwtError::Expired => reject(id, "client assertion expired"),
            other => reject(id, &format!("client assertion refused: {other}")),
        })?;
        let jti = claims
            .jti
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| reject(id, "client assertion has no usable jti"))?;
        let max_lifetime = i64::try_from(self.settings.max_assertion_lifetime.as_secs()).unwrap_or(i64::MAX);
        if claims.exp - now > max_lifetime + ASSERTION_LEEWAY_SECS {
            return Err(reject(id, "client assertion lives longer than max_assertion_lifetime"));
        }
        if claims.iat.is_some_and(|iat| iat > now + ASSERTION_LEEWAY_SECS) {
            return Err(reject(id, "client assertion issued in the future"));
        }
        let first = self
            .store
            .first_use_of_jti(id, &jti, claims.exp)
            .await
            .map_err(|e| crate::internal("recording an assertion jti", e))?;
        if !first {
            return Err(reject(id, "client assertion replayed (jti seen before)"));
        }
        Ok(())
    }

    async fn client_jwks(&self, client: &ClientRecord, assertion: &str) -> Result<JwkSet, OAuthError> {
        let id = client.client_id.as_str();
        if let Some(inline) = &client.jwks {
            return serde_json::from_str(inline).map_err(|e| crate::internal("parsing a client's stored JWKS", e));
        }
        let Some(uri) = &client.jwks_uri else { return Err(reject(id, "client has no JWKS")) };
        let fetch = |refresh| self.jwks.get(uri, refresh);
        let set = fetch(false).await.map_err(|e| reject(id, &e.to_string()))?;
        if foreign::kid_known(assertion, &set) {
            return Ok(set.as_ref().clone());
        }
        // The client may have rotated its key since we fetched: refetch once, rate-limited.
        Ok(fetch(true).await.map_err(|e| reject(id, &e.to_string()))?.as_ref().clone())
    }
}

fn hex_hash(hex: &str) -> Option<SecretHash> {
    ward_core::hex::decode(hex)?.try_into().ok().map(SecretHash)
}

pub(crate) fn hash_to_hex(hash: &SecretHash) -> String {
    ward_core::hex::encode(&hash.0)
}

fn reject(client_id: &str, reason: &str) -> OAuthError {
    tracing::warn!(client_id, reason, "client authentication failed");
    OAuthError::invalid_client()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &str) -> FormParams {
        FormParams::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn reads_each_method() {
        let basic = format!("Basic {}", STANDARD.encode("my%20app:s%3Acret"));
        assert_eq!(
            Presented::from_request(Some(&basic), &params("")).unwrap(),
            Presented::Basic { client_id: "my app".into(), secret: "s:cret".into() }
        );
        assert_eq!(
            Presented::from_request(None, &params("client_id=a&client_secret=b")).unwrap(),
            Presented::Post { client_id: "a".into(), secret: "b".into() }
        );
        let p = Presented::from_request(
            None,
            &params(&format!("client_assertion=x.y.z&client_assertion_type={JWT_BEARER_ASSERTION}")),
        )
        .unwrap();
        assert!(matches!(p, Presented::Assertion { client_id: None, .. }));
        assert_eq!(
            Presented::from_request(None, &params("client_id=a")).unwrap(),
            Presented::PublicId { client_id: "a".into() }
        );
        assert_eq!(Presented::from_request(None, &params("")).unwrap(), Presented::Nothing);
    }

    #[test]
    fn refuses_mixed_and_malformed() {
        let basic = format!("Basic {}", STANDARD.encode("a:b"));
        let both = Presented::from_request(Some(&basic), &params("client_id=a&client_secret=b")).unwrap_err();
        assert_eq!(both.error, ward_core::OAuthErrorCode::InvalidRequest);
        let mismatch = Presented::from_request(Some(&basic), &params("client_id=other")).unwrap_err();
        assert_eq!(mismatch.error, ward_core::OAuthErrorCode::InvalidRequest);
        for bad in [
            "Basic !!!",
            "Bearer abc",
            "Basic",
            &format!("Basic {}", STANDARD.encode("nocolon")),
            &format!("Basic {}", STANDARD.encode(":x")),
        ] {
            let e = Presented::from_request(Some(bad), &params("")).unwrap_err();
            assert_eq!(e.error, ward_core::OAuthErrorCode::InvalidClient, "{bad}");
        }
        assert!(Presented::from_request(None, &params("client_assertion=x&client_assertion_type=saml")).is_err());
        assert!(Presented::from_request(None, &params("client_secret=x")).is_err());
        let secret_and_assertion =
            format!("client_id=a&client_secret=b&client_assertion=x&client_assertion_type={JWT_BEARER_ASSERTION}");
        assert!(Presented::from_request(None, &params(&secret_and_assertion)).is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let p = Presented::Post { client_id: "a".into(), secret: "hunter2".into() };
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn hex_round_trip() {
        let h = SecretHash::of("x");
        assert_eq!(hex_hash(&hash_to_hex(&h)), Some(h));
        assert_eq!(hex_hash("zz"), None);
    }
}
