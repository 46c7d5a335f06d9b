//! `RemoteVerifier`: how gates check access tokens from Ward's issuer or any OIDC issuer,
//! locally, against the issuer's published keys.
//!
//! Per trusted issuer: discovery (`/.well-known/openid-configuration`) finds the `jwks_uri`
//! unless configured; the key set is refreshed in the background every five minutes; while
//! the issuer is unreachable the last good keys stay in use and retries back off
//! exponentially; a token naming an unknown `kid` triggers at most one refetch per ten seconds.
//! Checks: asymmetric algorithms from the issuer's allow-list only (so never `none`, never
//! HMAC with a public key), no `crit` header, signature, `iss`, `aud`, `exp`/`nbf` with leeway,
//! required scopes. Verified tokens are cached by hash until they expire.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use ward_core::sync::{lock, read, write};

use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};
use ward_core::{Clock, UnixTime};

use crate::foreign::jwt_alg;
use crate::jws::{self, MAX_JWS_LEN};
use crate::verified_cache::VerifiedCache;

/// How often key sets are refreshed when all is well.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// Shortest time between two refetches forced by unknown `kid`s.
pub const MIN_FORCED_REFETCH: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const VERIFIED_CACHE_ENTRIES: usize = 100_000;

/// What one trusted issuer's tokens must look like, and where their identity is.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// Exactly as in the tokens' `iss`.
    pub issuer: String,
    /// At least one must appear in `aud`.
    pub audiences: Vec<String>,
    pub algorithms: Vec<ward_core::VerifyAlg>,
    /// Skips discovery when set.
    pub jwks_uri: Option<String>,
    /// Claim holding the caller's roles: a top-level name (`roles`, `https://gprxy.io/roles`)
    /// or a dotted path (`realm_access.roles`).
    pub roles_claim: String,
    /// Claim naming the caller (`sub`, `email`, `preferred_username`, …).
    pub identity_claim: String,
    pub required_scopes: Vec<String>,
    pub leeway: Duration,
    /// Accepted `typ` header values, lower case, without `application/`.
    pub token_types: Vec<String>,
    /// Furthest `exp` may lie ahead of now (and of `iat`).
    pub max_lifetime: Duration,
}

/// A verified caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// The value of the policy's identity claim.
    pub identity: String,
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
    pub client_id: Option<String>,
    pub jti: Option<String>,
    pub expires_at: UnixTime,
    pub claims: Map<String, Value>,
}

impl Identity {
    /// A claim by top-level name or dotted path, as a string (arrays joined with commas).
    pub fn claim_text(&self, path: &str) -> Option<String> {
        claim_path(&self.claims, path).and_then(value_text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's issuer is not trusted")]
    UntrustedIssuer,
    #[error("the token's signing algorithm is not allowed")]
    Algorithm,
    #[error("the token carries critical header extensions")]
    CriticalHeader,
    #[error("the token is signed by a key the issuer does not publish")]
    UnknownKey,
    #[error("the issuer's keys are not available")]
    KeysUnavailable,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is not meant for this audience")]
    Audience,
    #[error("the token lacks the required scope {0:?}")]
    MissingScope(String),
    #[error("the token lacks the claim {0:?}")]
    MissingClaim(String),
    #[error("the token's type (typ header) is not accepted here")]
    TokenType,
    #[error("the token's lifetime is longer than this gate accepts")]
    Lifetime,
}

impl VerifyError {
    /// A short stable name for metrics and audit lines.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UntrustedIssuer => "untrusted_issuer",
            Self::Algorithm => "algorithm",
            Self::CriticalHeader => "crit",
            Self::UnknownKey => "unknown_kid",
            Self::KeysUnavailable => "keys_unavailable",
            Self::BadSignature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Audience => "audience",
            Self::MissingScope(_) => "scope",
            Self::MissingClaim(_) => "claim",
            Self::TokenType => "typ",
            Self::Lifetime => "lifetime",
        }
    }
}

struct KeySet {
    keys: HashMap<String, (Option<Algorithm>, DecodingKey)>,
    /// Keys without a `kid`, usable only when a token names none and there is exactly one.
    anonymous: Vec<(Option<Algorithm>, DecodingKey)>,
}

struct IssuerState {
    policy: TrustPolicy,
    keys: RwLock<Option<Arc<KeySet>>>,
    jwks_uri: RwLock<Option<String>>,
    last_attempt: Mutex<Option<Instant>>,
    refreshing: tokio::sync::Mutex<()>,
}

/// Why an issuer's keys could not be refreshed (the last good ones stay in use).
#[derive(Debug, thiserror::Error)]
enum RefreshError {
    #[error("discovery: {openid}; RFC 8414 metadata: {oauth}")]
    Discovery { openid: crate::fetch::FetchError, oauth: crate::fetch::FetchError },
    #[error("the discovery document names another issuer")]
    OtherIssuer,
    #[error("the discovery document has no jwks_uri")]
    NoJwksUri,
    #[error("JWKS: {0}")]
    Jwks(crate::fetch::FetchError),
}

/// The background refresh tasks; dropping it stops them.
pub struct Refresher(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Refresher {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

pub struct RemoteVerifier {
    issuers: Vec<Arc<IssuerState>>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    verified: VerifiedCache<Identity>,
}

impl RemoteVerifier {
    pub fn new(policies: Vec<TrustPolicy>, clock: Arc<dyn Clock>) -> Arc<Self> {
        let issuers = policies
            .into_iter()
            .map(|policy| {
                Arc::new(IssuerState {
                    jwks_uri: RwLock::new(policy.jwks_uri.clone()),
                    policy,
                    keys: RwLock::new(None),
                    last_attempt: Mutex::new(None),
                    refreshing: tokio::sync::Mutex::new(()),
                })
            })
            .collect();
        Arc::new(Self {
            issuers,
            http: crate::fetch::client(),
            clock,
            verified: VerifiedCache::new(VERIFIED_CACHE_ENTRIES),
        })
    }

    /// Fetches every issuer's keys once (failures are logged; verification retries them),
    /// then keeps them fresh in the background until the returned `Refresher` is dropped.
    pub async fn start(self: &Arc<Self>) -> Refresher {
        let mut tasks = Vec::new();
        for issuer in &self.issuers {
            let fetched = self.refresh(issuer).await;
            if let Err(e) = &fetched {
                tracing::warn!(issuer = %issuer.policy.issuer, error = %e, "cannot fetch the issuer's keys yet");
            }
            let (this, issuer) = (self.clone(), issuer.clone());
            tasks.push(tokio::spawn(async move { this.refresh_loop(issuer, fetched.is_ok()).await }));
        }
        Refresher(tasks)
    }

    async fn refresh_loop(&self, issuer: Arc<IssuerState>, fetched: bool) {
        let mut backoff = Duration::from_secs(1);
        tokio::time::sleep(if fetched { REFRESH_INTERVAL } else { backoff }).await;
        loop {
            let wait = match self.refresh(&issuer).await {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    REFRESH_INTERVAL
                }
                Err(e) => {
                    tracing::warn!(issuer = %issuer.policy.issuer, error = %e, retry_in = ?backoff, "refreshing the issuer's keys failed; keeping the last good ones");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Discovers the `jwks_uri` if needed and replaces the key set. One refresh at a time
    /// per issuer; a failure leaves the previous keys in place.
    async fn refresh(&self, issuer: &IssuerState) -> Result<(), RefreshError> {
        let _one_at_a_time = issuer.refreshing.lock().await;
        *lock(&issuer.last_attempt) = Some(Instant::now());
        let known_uri = read(&issuer.jwks_uri).clone();
        let uri = match known_uri {
            Some(uri) => uri,
            None => {
                let doc = self.discover(&issuer.policy.issuer).await?;
                if doc.get("issuer").and_then(Value::as_str) != Some(issuer.policy.issuer.as_str()) {
                    return Err(RefreshError::OtherIssuer);
                }
                let uri = doc.get("jwks_uri").and_then(Value::as_str).ok_or(RefreshError::NoJwksUri)?;
                *write(&issuer.jwks_uri) = Some(uri.to_owned());
                uri.to_owned()
            }
        };
        let set: JwkSet = crate::fetch::get_json(&self.http, &uri).await.map_err(RefreshError::Jwks)?;
        *write(&issuer.keys) = Some(Arc::new(parse_key_set(&set)));
        Ok(())
    }

    /// The issuer's metadata: its OpenID configuration, else its RFC 8414 authorization server
    /// metadata (an OAuth server that issues no ID tokens, Ward's own among them, serves only
    /// that).
    async fn discover(&self, issuer: &str) -> Result<Value, RefreshError> {
        let base = issuer.trim_end_matches('/');
        let openid = format!("{base}/.well-known/openid-configuration");
        match crate::fetch::get_json(&self.http, &openid).await {
            Ok(doc) => Ok(doc),
            Err(openid) => crate::fetch::get_json(&self.http, &oauth_metadata_url(base))
                .await
                .map_err(|oauth| RefreshError::Discovery { openid, oauth }),
        }
    }

    /// Refreshes unless a fetch was attempted within `MIN_FORCED_REFETCH`.
    async fn refetch_for_unknown_kid(&self, issuer: &IssuerState) {
        let recent = lock(&issuer.last_attempt).is_some_and(|at| at.elapsed() < MIN_FORCED_REFETCH);
        if !recent && let Err(e) = self.refresh(issuer).await {
            tracing::warn!(issuer = %issuer.policy.issuer, error = %e, "refetching keys for an unknown kid failed");
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Arc<Identity>, VerifyError> {
        let now = self.clock.now();
        if token.len() > MAX_JWS_LEN {
            return Err(VerifyError::Malformed);
        }
        if let Some(hit) = self.verified.get(token, now) {
            return Ok(hit);
        }
        let parsed = jws::parse(token).map_err(|_| VerifyError::Malformed)?;
        if parsed.header.crit.is_some() {
            return Err(VerifyError::CriticalHeader);
        }
        if !jws::has_unique_names(token) {
            return Err(VerifyError::Malformed);
        }
        #[derive(serde::Deserialize)]
        struct Iss {
            iss: Option<String>,
        }
        let iss = jws::insecure_claims::<Iss>(token)
            .ok_or(VerifyError::Malformed)?
            .iss
            .ok_or(VerifyError::UntrustedIssuer)?;
        let issuer = self.issuers.iter().find(|i| i.policy.issuer == iss).ok_or(VerifyError::UntrustedIssuer)?;
        let policy = &issuer.policy;
        if !type_accepted(parsed.header.typ.as_deref(), &policy.token_types) {
            return Err(VerifyError::TokenType);
        }
        let alg: ward_core::VerifyAlg = parsed.header.alg.parse().map_err(|_| VerifyError::Algorithm)?;
        if !policy.algorithms.contains(&alg) {
            return Err(VerifyError::Algorithm);
        }
        let alg = jwt_alg(alg);
        let kid = parsed.header.kid.as_deref();
        let key = match find_key(issuer, kid, alg) {
            Some(key) => key,
            None => {
                self.refetch_for_unknown_kid(issuer).await;
                let have_keys = read(&issuer.keys).is_some();
                find_key(issuer, kid, alg).ok_or(if have_keys {
                    VerifyError::UnknownKey
                } else {
                    VerifyError::KeysUnavailable
                })?
            }
        };

        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&policy.issuer]);
        validation.set_audience(&policy.audiences);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidAudience => VerifyError::Audience,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => VerifyError::UntrustedIssuer,
                jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(c) => VerifyError::MissingClaim(c.clone()),
                jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::BadSignature,
                _ => VerifyError::BadSignature,
            })?
            .claims;

        let leeway = i64::try_from(policy.leeway.as_secs()).unwrap_or(0);
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or(VerifyError::MissingClaim("exp".into()))?;
        if exp.saturating_add(leeway) <= now {
            return Err(VerifyError::Expired);
        }
        let max_lifetime = i64::try_from(policy.max_lifetime.as_secs()).unwrap_or(i64::MAX);
        let issued = match claims.get("iat") {
            Some(iat) => iat.as_i64().ok_or(VerifyError::Malformed)?,
            None => now,
        };
        if exp.saturating_sub(now.min(issued)) > max_lifetime.saturating_add(leeway) {
            return Err(VerifyError::Lifetime);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_i64().ok_or(VerifyError::Malformed)?;
            if nbf.saturating_sub(leeway) > now {
                return Err(VerifyError::NotYetValid);
            }
        }
        let scopes = scopes_of(&claims);
        if let Some(missing) = policy.required_scopes.iter().find(|s| !scopes.contains(s)) {
            return Err(VerifyError::MissingScope(missing.clone()));
        }
        let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default().to_owned();
        let identity = claim_path(&claims, &policy.identity_claim)
            .and_then(value_text)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| VerifyError::MissingClaim(policy.identity_claim.clone()))?;
        let roles = claim_path(&claims, &policy.roles_claim).map(value_list).unwrap_or_default();
        let verified = Arc::new(Identity {
            issuer: iss,
            subject,
            identity,
            roles,
            scopes,
            client_id: claims.get("client_id").or_else(|| claims.get("azp")).and_then(Value::as_str).map(str::to_owned),
            jti: claims.get("jti").and_then(Value::as_str).map(str::to_owned),
            expires_at: exp,
            claims,
        });
        self.verified.insert(token, exp.saturating_add(leeway), verified.clone(), now);
        Ok(verified)
    }
}

/// RFC 8725 §3.11 / RFC 9068 §4: the `typ` header tells access tokens from other JWTs. Media
/// types compare case-insensitively, and `application/` may be left out (RFC 7515 §4.1.9).
fn type_accepted(typ: Option<&str>, accepted: &[String]) -> bool {
    let Some(typ) = typ else { return false };
    let typ = typ.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    accepted.iter().any(|a| a == typ)
}

fn parse_key_set(set: &JwkSet) -> KeySet {
    let mut keys = HashMap::new();
    let mut anonymous = Vec::new();
    for jwk in &set.keys {
        // Published keys are public keys; a symmetric key in a JWKS is a mistake to ignore.
        if matches!(jwk.algorithm, AlgorithmParameters::OctetKey(_)) {
            continue;
        }
        if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != jsonwebtoken::jwk::PublicKeyUse::Signature) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(jwk) else { continue };
        let alg = jwk.common.key_algorithm.and_then(|a| a.to_string().parse::<Algorithm>().ok());
        match &jwk.common.key_id {
            Some(kid) => {
                keys.insert(kid.clone(), (alg, key));
            }
            None => anonymous.push((alg, key)),
        }
    }
    KeySet { keys, anonymous }
}

fn find_key(issuer: &IssuerState, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
    let set = read(&issuer.keys).clone()?;
    let (key_alg, key) = match kid {
        Some(kid) => set.keys.get(kid)?,
        None if set.anonymous.len() + set.keys.len() == 1 => {
            set.anonymous.first().or_else(|| set.keys.values().next())?
        }
        None => return None,
    };
    // A key published for one algorithm is never used with another.
    if key_alg.is_some_and(|a| a != alg) {
        return None;
    }
    Some(key.clone())
}

/// A claim by exact top-level name first (URL-shaped names contain dots), then by dotted path.
fn claim_path<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.get(part)?;
    }
    Some(current)
}

fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => Some(value_list(v).join(",")).filter(|_| !items.is_empty()),
        _ => None,
    }
}

/// Roles as issuers send them: an array of strings, or one space- or comma-separated string.
fn value_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        Value::String(s) => s.split([' ', ',']).filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// `scope` (RFC 9068, space-separated) or `scp` (an array, as Entra and Okta send).
fn scopes_of(claims: &Map<String, Value>) -> Vec<String> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => s.split(' ').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        (_, Some(v)) => value_list(v),
        _ => Vec::new(),
    }
}

/// RFC 8414 §3.1: the well-known segment goes between the host and the issuer's path, so
/// `https://h/tenant` has its metadata at `https://h/.well-known/oauth-authorization-server/tenant`.
pub fn oauth_metadata_url(issuer: &str) -> String {
    let (scheme, rest) = issuer.split_once("://").unwrap_or(("https", issuer));
    let (host, path) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        format!("{scheme}://{host}/.well-known/oauth-authorization-server")
    } else {
        format!("{scheme}://{host}/.well-known/oauth-authorization-server/{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8414_metadata_urls() {
        assert_eq!(oauth_metadata_url("https://h"), "https://h/.well-known/oauth-authorization-server");
        assert_eq!(oauth_metadata_url("https://h/t/a"), "https://h/.well-known/oauth-authorization-server/t/a");
        assert_eq!(
            oauth_metadata_url("http://127.0.0.1:8/"),
            "http://127.0.0.1:8/.well-known/oauth-authorization-server"
        );
    }
    use serde_json::json;

    #[test]
    fn token_types_compare_as_media_types() {
        let at = vec!["at+jwt".to_owned()];
        assert!(type_accepted(Some("at+jwt"), &at));
        assert!(type_accepted(Some("AT+JWT"), &at));
        assert!(type_accepted(Some("application/at+jwt"), &at));
        assert!(!type_accepted(Some("JWT"), &at));
        assert!(!type_accepted(None, &at));
        assert!(type_accepted(Some("JWT"), &["jwt".to_owned()]));
    }

    #[test]
    fn claims_by_name_or_path() {
        let claims = json!({"https://gprxy.io/roles": ["reader"], "realm_access": {"roles": "a b"}, "sub": "u"});
        let Value::Object(claims) = claims else { unreachable!() };
        assert_eq!(claim_path(&claims, "https://gprxy.io/roles").map(value_list), Some(vec!["reader".to_owned()]));
        assert_eq!(
            claim_path(&claims, "realm_access.roles").map(value_list),
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert!(claim_path(&claims, "nope.deeper").is_none());
        assert_eq!(scopes_of(&claims), Vec::<String>::new());
    }
}
