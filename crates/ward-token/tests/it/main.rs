//! `RemoteVerifier` against a fake OIDC issuer it does not control, and against Ward's own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use ward_core::{Clock, ManualClock, SigningAlg, SystemClock, VerifyAlg};
use ward_testkit::oidc::FakeIssuer;
use ward_token::key::{SigningKey, generate_pkcs8};
use ward_token::remote::{RemoteVerifier, TrustPolicy, VerifyError};

fn policy(issuer: &FakeIssuer) -> TrustPolicy {
    TrustPolicy {
        issuer: issuer.url.clone(),
        audiences: vec!["pg-gate".into()],
        algorithms: vec![VerifyAlg::ES256, VerifyAlg::RS256, VerifyAlg::EdDSA],
        jwks_uri: None,
        roles_claim: "https://gprxy.io/roles".into(),
        identity_claim: "email".into(),
        required_scopes: vec![],
        leeway: Duration::from_secs(30),
        token_types: vec!["at+jwt".into()],
        max_lifetime: Duration::from_secs(24 * 3600),
    }
}

fn claims(issuer: &FakeIssuer, now: i64) -> Value {
    json!({
        "iss": issuer.url, "sub": "auth0|42", "aud": ["pg-gate", "other"], "exp": now + 300, "iat": now,
        "email": "ada@example.com", "https://gprxy.io/roles": ["reader", "auditor"],
        "scope": "openid db:read", "azp": "spa-client"
    })
}

fn key(alg: SigningAlg) -> SigningKey {
    SigningKey::from_pkcs8(alg, &generate_pkcs8(alg).unwrap()).unwrap()
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    ward_token::jws::sign(key, "at+jwt", claims).unwrap()
}

/// Signs a payload given as text, so it may say things a `Value` cannot (a name twice).
fn sign_raw(key: &SigningKey, payload: &str) -> String {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let header = json!({"alg": "ES256", "kid": key.kid(), "typ": "at+jwt"}).to_string();
    let input = format!("{}.{}", b64(&header), b64(payload));
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()));
    format!("{input}.{signature}")
}

fn patch(mut v: Value, p: Value) -> Value {
    if let (Value::Object(v), Value::Object(p)) = (&mut v, p) {
        v.extend(p);
    }
    v
}

#[tokio::test]
async fn another_issuers_tokens_map_to_identity_and_roles() {
    let issuer = FakeIssuer::start(SigningAlg::ES256).await.unwrap();
    let k = &issuer.key;
    let verifier = RemoteVerifier::new(vec![policy(&issuer)], Arc::new(SystemClock));
    let _refresher = verifier.start().await;
    let token = sign(k, &claims(&issuer, SystemClock.now()));
    let id = verifier.verify(&token).await.unwrap();
    assert_eq!(id.identity, "ada@example.com");
    assert_eq!(id.subject, "auth0|42");
    assert_eq!(id.roles, ["reader", "auditor"]);
    assert_eq!(id.scopes, ["openid", "db:read"]);
    assert_eq!(id.client_id.as_deref(), Some("spa-client"));
    assert_eq!(id.claim_text("https://gprxy.io/roles").as_deref(), Some("reader,auditor"));

    // Verified once, then served from the cache: no further key fetches.
    let fetches = issuer.jwks_fetches.load(Ordering::SeqCst);
    for _ in 0..10 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), fetches);
}

#[tokio::test]
async fn bad_tokens_are_refused_for_the_right_reason() {
    let issuer = FakeIssuer::start(SigningAlg::ES256).await.unwrap();
    let k = &issuer.key;
    let stranger = key(SigningAlg::ES256);
    let mut required = policy(&issuer);
    required.required_scopes = vec!["db:read".into()];
    let verifier = RemoteVerifier::new(vec![required], Arc::new(SystemClock));
    let _refresher = verifier.start().await;
    let now = SystemClock.now();
    let base = claims(&issuer, now);
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };

    let cases: Vec<(&str, String, VerifyError)> = vec![
        ("expired", sign(k, &patch(base.clone(), json!({"exp": now - 60}))), VerifyError::Expired),
        ("not yet valid", sign(k, &patch(base.clone(), json!({"nbf": now + 600}))), VerifyError::NotYetValid),
        ("wrong audience", sign(k, &patch(base.clone(), json!({"aud": "redis-gate"}))), VerifyError::Audience),
        (
            "untrusted issuer",
            sign(k, &patch(base.clone(), json!({"iss": "https://evil.example"}))),
            VerifyError::UntrustedIssuer,
        ),
        (
            "missing scope",
            sign(k, &patch(base.clone(), json!({"scope": "openid"}))),
            VerifyError::MissingScope("db:read".into()),
        ),
        (
            "no identity claim",
            sign(k, &patch(base.clone(), json!({"email": null}))),
            VerifyError::MissingClaim("email".into()),
        ),
        ("foreign key, unknown kid", sign(&stranger, &base), VerifyError::UnknownKey),
        (
            "alg none",
            format!("{}.{}.", b64(&json!({"alg": "none", "kid": k.kid(), "typ": "at+jwt"})), b64(&base)),
            VerifyError::Algorithm,
        ),
        ("not a JWT", "hello".into(), VerifyError::Malformed),
        ("typ JWT, not an access token", ward_token::jws::sign(k, "JWT", &base).unwrap(), VerifyError::TokenType),
        ("exp near 2^63", sign(k, &patch(base.clone(), json!({"exp": i64::MAX - 1}))), VerifyError::Lifetime),
        (
            "issued two days ago, valid five more minutes",
            sign(k, &patch(base.clone(), json!({"iat": now - 2 * 86_400}))),
            VerifyError::Lifetime,
        ),
        (
            "a repeated claim name",
            sign_raw(k, &base.to_string().replacen('{', r#"{"sub":"admin","#, 1)),
            VerifyError::Malformed,
        ),
        ("oversize", "a".repeat(20_000), VerifyError::Malformed),
    ];
    for (what, token, expected) in cases {
        assert_eq!(verifier.verify(&token).await.unwrap_err(), expected, "{what}");
    }

    // HS256 keyed with the issuer's public key bytes: the classic confusion attack.
    let public = serde_json::to_vec(k.public_jwk()).unwrap();
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(k.kid().into()),
            typ: Some("at+jwt".into()),
            ..jsonwebtoken::Header::new(Algorithm::HS256)
        },
        &base,
        &jsonwebtoken::EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_eq!(verifier.verify(&hs).await.unwrap_err(), VerifyError::Algorithm);

    // A critical header extension we do not understand.
    let good = sign(k, &base);
    let (_, rest) = good.split_once('.').unwrap();
    let crit = format!("{}.{rest}", b64(&json!({"alg": "ES256", "kid": k.kid(), "crit": ["x-bank"]})));
    assert_eq!(verifier.verify(&crit).await.unwrap_err(), VerifyError::CriticalHeader);

    // Our kid, someone else's signature.
    let forged_sig = sign(&stranger, &base);
    let forged = format!("{}.{}", good.rsplit_once('.').unwrap().0, forged_sig.rsplit_once('.').unwrap().1);
    assert_eq!(verifier.verify(&forged).await.unwrap_err(), VerifyError::BadSignature);
    // The algorithm allow-list is per issuer.
    let rsa = key(SigningAlg::RS256);
    issuer.keys.lock().unwrap().push(rsa.public_jwk().clone());
    let narrow = RemoteVerifier::new(
        vec![TrustPolicy { algorithms: vec![VerifyAlg::ES256], ..policy(&issuer) }],
        Arc::new(SystemClock),
    );
    let _r = narrow.start().await;
    assert_eq!(narrow.verify(&sign(&rsa, &base)).await.unwrap_err(), VerifyError::Algorithm);
    assert!(narrow.verify(&good).await.is_ok());
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_interval_and_cached_keys_survive_an_outage() {
    let issuer = FakeIssuer::start(SigningAlg::ES256).await.unwrap();
    let k1 = &issuer.key;
    let clock = ManualClock::new(SystemClock.now());
    let verifier = RemoteVerifier::new(vec![policy(&issuer)], Arc::new(clock.clone()));
    let _refresher = verifier.start().await;
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1);

    // The issuer rotates in a new key, but within ten seconds of our last fetch we do not ask again.
    let k2 = key(SigningAlg::EdDSA);
    issuer.keys.lock().unwrap().push(k2.public_jwk().clone());
    let t2 = sign(&k2, &claims(&issuer, clock.now()));
    assert_eq!(verifier.verify(&t2).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(verifier.verify(&t2).await.unwrap_err(), VerifyError::UnknownKey);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1, "rate-limited");
    tokio::time::sleep(ward_token::remote::MIN_FORCED_REFETCH).await;
    assert!(verifier.verify(&t2).await.is_ok(), "one refetch finds the new key");
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2);

    // The issuer goes down: keys we hold keep working.
    issuer.down.store(true, Ordering::SeqCst);
    let t1 = sign(k1, &claims(&issuer, clock.now()));
    assert!(verifier.verify(&t1).await.is_ok());
}

#[tokio::test]
async fn an_issuer_that_is_down_at_start_is_retried() {
    let issuer = FakeIssuer::start(SigningAlg::ES256).await.unwrap();
    issuer.down.store(true, Ordering::SeqCst);
    let verifier = RemoteVerifier::new(vec![policy(&issuer)], Arc::new(SystemClock));
    let _refresher = verifier.start().await;
    let token = sign(&issuer.key, &claims(&issuer, SystemClock.now()));
    assert_eq!(verifier.verify(&token).await.unwrap_err(), VerifyError::KeysUnavailable);
    issuer.down.store(false, Ordering::SeqCst);
    // The background loop retries with backoff (1 s first).
    let mut ok = false;
    for _ in 0..40 {
        if verifier.verify(&token).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "keys fetched once the issuer came back");
}

#[tokio::test]
async fn wards_own_issuer_is_trusted_like_any_other() {
    let ward = ward_testkit::TestIssuer::start(ward_testkit::StoreBackend::Sqlite).await.unwrap();
    let app = ward.confidential_client("app", "db:read").await.unwrap();
    let token = ward.access_token(&app).await.unwrap();
    let policy = TrustPolicy {
        issuer: ward.config.issuer.clone(),
        audiences: vec!["ward".into()],
        algorithms: vec![VerifyAlg::ES256],
        jwks_uri: None,
        roles_claim: "roles".into(),
        identity_claim: "sub".into(),
        required_scopes: vec!["db:read".into()],
        leeway: Duration::from_secs(30),
        token_types: vec!["at+jwt".into()],
        max_lifetime: Duration::from_secs(24 * 3600),
    };
    let verifier = RemoteVerifier::new(vec![policy], Arc::new(SystemClock));
    let _refresher = verifier.start().await;
    let id = verifier.verify(&token).await.unwrap();
    assert_eq!(id.identity, "app");
    assert_eq!(id.client_id.as_deref(), Some("app"));
    assert!(id.roles.is_empty());
    ward.stop().await.unwrap();
}
