//! `private_key_jwt` (RFC 7523): assertions signed by the client's own key.

use anyhow::Result;
use serde_json::{Value, json};
use ward_core::{SigningAlg, TokenEndpointAuthMethod};
use ward_testkit::{StoreBackend, TestIssuer, confidential};
use ward_token::key::{SigningKey, generate_pkcs8};

use crate::{FORM, post_raw};

ward_testkit::on_both_backends!(assertions_authenticate_once, bad_assertions_are_refused, keys_from_a_jwks_uri,);

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn client_key(alg: SigningAlg) -> Result<SigningKey> {
    Ok(SigningKey::from_pkcs8(alg, &generate_pkcs8(alg)?)?)
}

fn jwks_of(keys: &[&SigningKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.public_jwk().clone()).collect::<Vec<_>>() }).to_string()
}

async fn register(issuer: &TestIssuer, id: &str, jwks: Option<String>, jwks_uri: Option<String>) -> Result<()> {
    issuer
        .create_client(ward_oauth::admin::NewClient {
            auth_method: Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            jwks,
            jwks_uri,
            ..confidential(id, "db:read")?
        })
        .await?;
    Ok(())
}

fn assertion(key: &SigningKey, claims: Value) -> Result<String> {
    Ok(ward_token::jws::sign(key, "JWT", &claims)?)
}

fn claims(issuer: &TestIssuer, client: &str, aud: &str, jti: &str) -> Value {
    let now = ward_core::Clock::now(&issuer.clock);
    json!({ "iss": client, "sub": client, "aud": aud, "jti": jti, "iat": now, "exp": now + 60 })
}

async fn send(issuer: &TestIssuer, path: &str, assertion: &str, extra: &str) -> Result<(u16, Value)> {
    let body = format!("client_assertion_type={ASSERTION_TYPE}&client_assertion={assertion}{extra}");
    let (status, _, json) = post_raw(issuer, path, FORM, body, None).await?;
    Ok((status, json))
}

async fn assertions_authenticate_once(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let key = client_key(SigningAlg::ES256)?;
    register(&issuer, "signer", Some(jwks_of(&[&key])), None).await?;
    let token_url = issuer.url("/oauth/token");

    let a = assertion(&key, claims(&issuer, "signer", &token_url, "j-1"))?;
    let (status, body) = send(&issuer, "/oauth/token", &a, "&grant_type=client_credentials").await?;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(&issuer, "/oauth/token", &a, "&grant_type=client_credentials").await?;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "replayed jti");

    // The issuer URL is an acceptable audience too, and client_id may accompany the assertion.
    let b = assertion(&key, claims(&issuer, "signer", &issuer.base_url, "j-2"))?;
    let (status, _) = send(&issuer, "/oauth/token", &b, "&grant_type=client_credentials&client_id=signer").await?;
    assert_eq!(status, 200);

    // EdDSA and RS256 client keys work as well.
    for (id, alg) in [("ed", SigningAlg::EdDSA), ("rsa", SigningAlg::RS256)] {
        let k = client_key(alg)?;
        register(&issuer, id, Some(jwks_of(&[&k])), None).await?;
        let c = assertion(&k, claims(&issuer, id, &token_url, "j-1"))?;
        let (status, body) = send(&issuer, "/oauth/token", &c, "&grant_type=client_credentials").await?;
        assert_eq!(status, 200, "{alg}: {body}");
    }

    // At the introspection endpoint, its own URL is the audience.
    let token = {
        let c = assertion(&key, claims(&issuer, "signer", &token_url, "j-3"))?;
        send(&issuer, "/oauth/token", &c, "&grant_type=client_credentials").await?.1["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let c = assertion(&key, claims(&issuer, "signer", &issuer.url("/oauth/introspect"), "j-4"))?;
    let (status, body) = send(&issuer, "/oauth/introspect", &c, &format!("&token={token}")).await?;
    assert_eq!((status, body["active"].as_bool()), (200, Some(true)), "{body}");
    issuer.stop().await
}

async fn bad_assertions_are_refused(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let key = client_key(SigningAlg::ES256)?;
    let stranger = client_key(SigningAlg::ES256)?;
    register(&issuer, "signer", Some(jwks_of(&[&key])), None).await?;
    let token_url = issuer.url("/oauth/token");
    let now = ward_core::Clock::now(&issuer.clock);
    let base = claims(&issuer, "signer", &token_url, "x");
    let with = |patch: Value| {
        let mut c = base.clone();
        if let (Value::Object(c), Value::Object(p)) = (&mut c, patch) {
            c.extend(p);
        }
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("expired", assertion(&key, with(json!({"jti": "e1", "exp": now - 120})))?),
        ("wrong audience", assertion(&key, with(json!({"jti": "e2", "aud": "https://elsewhere.example/token"})))?),
        ("lives too long", assertion(&key, with(json!({"jti": "e3", "exp": now + 3600})))?),
        ("no jti", assertion(&key, json!({"iss": "signer", "sub": "signer", "aud": token_url, "exp": now + 60}))?),
        ("no exp", assertion(&key, json!({"iss": "signer", "sub": "signer", "aud": token_url, "jti": "e4"}))?),
        ("sub differs", assertion(&key, with(json!({"jti": "e5", "sub": "someone-else"})))?),
        ("issued in the future", assertion(&key, with(json!({"jti": "e6", "iat": now + 600, "exp": now + 660})))?),
        ("not yet valid", assertion(&key, with(json!({"jti": "e7", "nbf": now + 600})))?),
        ("foreign key", assertion(&stranger, with(json!({"jti": "e8"})))?),
        ("unknown client", assertion(&key, with(json!({"jti": "e9", "iss": "nobody", "sub": "nobody"})))?),
        ("not a JWT", "not.a.jwt".to_owned()),
        (
            "HS256",
            jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
                &with(json!({"jti": "e10"})),
                &jsonwebtoken::EncodingKey::from_secret(b"guess"),
            )?,
        ),
        ("alg none", format!("eyJhbGciOiJub25lIn0.{}.", base64_json(&with(json!({"jti": "e11"}))))),
    ];
    for (what, a) in cases {
        let (status, body) = send(&issuer, "/oauth/token", &a, "&grant_type=client_credentials").await?;
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{what}");
    }
    // client_id that disagrees with iss.
    let a = assertion(&key, with(json!({"jti": "e12"})))?;
    let (status, _) = send(&issuer, "/oauth/token", &a, "&grant_type=client_credentials&client_id=other").await?;
    assert_eq!(status, 401);
    // Wrong assertion type.
    let body = format!("grant_type=client_credentials&client_assertion_type=urn:x&client_assertion={a}");
    let (status, _, json) = post_raw(&issuer, "/oauth/token", FORM, body, None).await?;
    assert_eq!((status, json["error"].as_str()), (400, Some("invalid_request")));
    // A secret-based client cannot authenticate with an assertion, and vice versa.
    let secret_client = issuer.confidential_client("basic", "db:read").await?;
    let (status, _) = issuer
        .token(
            &ward_testkit::TestClient { id: "signer".into(), secret: secret_client.secret },
            &[("grant_type", "client_credentials")],
        )
        .await?;
    assert_eq!(status, 401);
    issuer.stop().await
}

fn base64_json(v: &Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn keys_from_a_jwks_uri(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let key = client_key(SigningAlg::ES256)?;
    let jwks = jwks_of(&[&key]);
    let app = axum::Router::new().route("/jwks", axum::routing::get(move || async move { jwks.clone() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    register(&issuer, "remote", None, Some(format!("http://127.0.0.1:{}/jwks", addr.port()))).await?;
    let a = assertion(&key, claims(&issuer, "remote", &issuer.url("/oauth/token"), "r1"))?;
    let (status, body) = send(&issuer, "/oauth/token", &a, "&grant_type=client_credentials").await?;
    assert_eq!(status, 200, "{body}");

    // A client whose jwks_uri answers nothing cannot authenticate.
    let dead_port = ward_testkit::pg::free_port()?;
    register(&issuer, "dead", None, Some(format!("http://127.0.0.1:{dead_port}/jwks"))).await?;
    let a = assertion(&key, claims(&issuer, "dead", &issuer.url("/oauth/token"), "d1"))?;
    let (status, _) = send(&issuer, "/oauth/token", &a, "&grant_type=client_credentials").await?;
    assert_eq!(status, 401);
    server.abort();
    issuer.stop().await
}
