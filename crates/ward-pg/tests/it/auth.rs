//! Token authentication at the gate: what gets in, what is refused, and with which SQLSTATE.

use std::sync::atomic::Ordering;

use serde_json::json;
use ward_config::gate::{PoolMode, RoleRule};
use ward_testkit::gate::{TestGate, gate_config, gate_db, trust_fake};

use crate::{message, psql, setup, setup_with, sqlstate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_get_28p01_and_the_reason() {
    let (issuer, gate) = setup().await;
    let other = ward_testkit::oidc::FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let now = ward_core::Clock::now(&ward_core::SystemClock);
    let claims = |extra| issuer.claims("alice", &["reader"], extra);
    let b64 = |v: &serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(issuer.key.kid().into()),
            typ: Some("at+jwt".into()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims(json!({})),
        &jsonwebtoken::EncodingKey::from_secret(&serde_json::to_vec(issuer.key.public_jwk()).unwrap()),
    )
    .unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed", "not-a-token".into(), "not a well-formed JWT"),
        ("expired", issuer.sign(&claims(json!({"exp": now - 120}))).unwrap(), "expired"),
        ("other audience", issuer.sign(&claims(json!({"aud": "redis-gate"}))).unwrap(), "audience"),
        ("other issuer", other.token("alice", &["reader"]).unwrap(), "issuer is not trusted"),
        ("unknown kid", other.sign(&claims(json!({}))).unwrap(), "key the issuer does not publish"),
        (
            "alg none",
            format!("{}.{}.", b64(&json!({"alg": "none", "typ": "at+jwt"})), b64(&claims(json!({})))),
            "algorithm",
        ),
        (
            "an ID token, not an access token",
            ward_token::jws::sign(&issuer.key, "JWT", &claims(json!({}))).unwrap(),
            "typ",
        ),
        ("exp near 2^63", issuer.sign(&claims(json!({"exp": i64::MAX - 1}))).unwrap(), "lifetime"),
        (
            "a repeated claim name",
            {
                // `sub` twice: the first says alice, the last says admin.
                let header = b64(&json!({"alg": "ES256", "kid": issuer.key.kid(), "typ": "at+jwt"}));
                let payload = claims(json!({})).to_string().replacen('{', r#"{"sub":"admin","#, 1);
                let input = format!(
                    "{header}.{}",
                    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
                );
                let signature = base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    issuer.key.sign(input.as_bytes()),
                );
                format!("{input}.{signature}")
            },
            "not a well-formed JWT",
        ),
        ("HS256 with the public key", hs256, "algorithm"),
    ];
    for (what, token, expected) in cases {
        let err = gate.connect("alice", &token).await.unwrap_err();
        assert_eq!(sqlstate(&err), "28P01", "{what}: {err}");
        assert!(message(&err).contains(expected), "{what}: {}", message(&err));
    }
    // psql shows the same to a person.
    let (ok, _, stderr) = psql(&gate, "alice", "garbage", "select 1").await;
    assert!(!ok && stderr.contains("access token refused"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_must_be_the_tokens_identity() {
    let (issuer, gate) = setup().await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let err = gate.connect("bob", &token).await.unwrap_err();
    assert_eq!(sqlstate(&err), "28000");
    assert!(message(&err).contains("does not match"), "{err}");

    let (issuer, relaxed) = setup_with(|c| c.match_user = false).await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let client = relaxed.connect("anything", &token).await.unwrap();
    let who: String = client.query_one("select current_setting('app.user_id')", &[]).await.unwrap().get(0);
    assert_eq!(who, "alice", "identity comes from the token, never from the user field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_matching_rule_names_the_roles_seen() {
    let (issuer, gate) = setup().await;
    let err = gate.connect("alice", &issuer.token("alice", &["guest", "visitor"]).unwrap()).await.unwrap_err();
    assert_eq!(sqlstate(&err), "28000");
    assert!(message(&err).contains("guest, visitor"), "{err}");
    let err = gate.connect("alice", &issuer.token("alice", &[]).unwrap()).await.unwrap_err();
    assert!(message(&err).contains("(none)"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_and_trust_service_accounts_log_in_too() {
    for account in ["svc_md5", "svc_trust"] {
        let (issuer, gate) =
            setup_with(|c| c.roles = vec![RoleRule { role: "*".into(), account: account.into() }]).await;
        let client = gate.connect("alice", &issuer.token("alice", &["anything"]).unwrap()).await.unwrap();
        let user: String = client.query_one("select current_user", &[]).await.unwrap().get(0);
        assert_eq!(user, account);
    }
    // A wrong service-account password is the operator's problem: the client sees a generic error.
    let (issuer, gate) = setup_with(|c| {
        c.accounts.get_mut("svc_reader").unwrap().password = Some(ward_config::Secret::new("wrong"));
    })
    .await;
    let err = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006");
    assert!(!message(&err).contains("reader-secret") && !message(&err).contains("password authentication"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_keys_keep_working_while_the_issuer_is_down() {
    let (issuer, gate) = setup().await;
    let first = issuer.token("alice", &["reader"]).unwrap();
    gate.connect("alice", &first).await.unwrap();
    issuer.down.store(true, Ordering::SeqCst);
    let fresh = issuer.token("bob", &["reader"]).unwrap();
    let client = gate.connect("bob", &fresh).await.unwrap();
    client.query_one("select 1", &[]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wards_own_client_credentials_tokens_open_sessions() {
    // J3: a service gets a token from Ward's issuer and connects with it, no password in sight.
    let ward = ward_testkit::TestIssuer::start(ward_testkit::StoreBackend::Sqlite).await.unwrap();
    let svc = ward.confidential_client("reporting", "db").await.unwrap();
    let token = ward.access_token(&svc).await.unwrap();
    let db = gate_db().await.unwrap();
    let mut config = gate_config(db);
    config.roles = vec![RoleRule { role: "*".into(), account: "svc_reader".into() }];
    let trust = ward_config::TrustConfig {
        issuer: ward.config.issuer.clone(),
        audiences: vec!["ward".into()],
        roles_claim: "roles".into(),
        identity_claim: "sub".into(),
        ..trust_fake(&ward_testkit::oidc::FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap())
    };
    let gate = TestGate::start(config, vec![trust]).await.unwrap();
    let (ok, out, err) = psql(
        &gate,
        "reporting",
        &token,
        "select current_user, current_setting('app.user_id'), current_setting('app.client_id')",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "svc_reader|reporting|reporting");
    ward.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_when_their_token_expires_if_asked_in_every_mode() {
    for (mode, audit) in [(PoolMode::Session, false), (PoolMode::Session, true), (PoolMode::Transaction, false)] {
        let (issuer, gate) = setup_with(|c| {
            c.close_on_expiry = true;
            c.pool_mode = mode;
            c.audit_statements = audit;
        })
        .await;
        let now = ward_core::Clock::now(&ward_core::SystemClock);
        let short = issuer.sign(&issuer.claims("alice", &["reader"], json!({"exp": now + 2}))).unwrap();
        let client = gate.connect("alice", &short).await.unwrap();
        client.query_one("select 1", &[]).await.unwrap();
        let err = client.query_one("select pg_sleep(10)", &[]).await.unwrap_err();
        assert_eq!(sqlstate(&err), "28000", "{mode:?} audit {audit}: {err}");
        assert!(message(&err).contains("expired"), "{}", message(&err));

        // Idle between statements, the session ends all the same.
        let short = issuer.sign(&issuer.claims("alice", &["reader"], json!({"exp": now + 2}))).unwrap();
        let client = gate.connect("alice", &short).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
        assert!(client.query_one("select 1", &[]).await.is_err(), "{mode:?} audit {audit}: answered after exp");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_close_on_expiry_a_session_outlives_its_token_but_not_its_signed_identity() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let (issuer, gate) = setup_with(|c| c.pool_mode = mode).await;
        let now = ward_core::Clock::now(&ward_core::SystemClock);
        let short = issuer.sign(&issuer.claims("alice", &["reader"], json!({"exp": now + 2}))).unwrap();
        let client = gate.connect("alice", &short).await.unwrap();
        let who = "select ward.user_id(), current_setting('app.user_id')";
        let row = client.query_one(who, &[]).await.unwrap();
        assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("alice"));
        tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
        // The session goes on (as with PostgreSQL passwords), but the signed identity was
        // bound to the token's expiry: policies on ward.user_id() now see nobody.
        let row = client.query_one(who, &[]).await.unwrap();
        assert_eq!(row.get::<_, Option<String>>(0), None, "{mode:?}");
        assert_eq!(row.get::<_, String>(1), "alice", "{mode:?}");
    }
}
