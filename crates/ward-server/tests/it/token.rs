//! `POST /oauth/token` with client credentials.

use anyhow::Result;
use ward_testkit::{StoreBackend, TestIssuer};

use crate::{FORM, post_raw, verify_with_jwks};

ward_testkit::on_both_backends!(
    issues_a_jwt_that_verifies_against_the_jwks,
    scopes_default_narrow_and_refuse,
    issuing_writes_nothing_to_the_database,
    malformed_requests_get_invalid_request,
    oversize_bodies_get_413,
    unknown_and_unauthorized_grants,
    a_clients_roles_and_tenant_travel_in_its_tokens,
);

async fn issues_a_jwt_that_verifies_against_the_jwks(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let client = issuer.confidential_client("reporting", "db:read db:write").await?;
    let resp = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "db:read")])
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "db:read");

    let token = body["access_token"].as_str().unwrap_or_default();
    let (header, claims) = verify_with_jwks(&issuer, token).await?;
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(claims["iss"], issuer.base_url.as_str());
    assert_eq!(claims["sub"], "reporting");
    assert_eq!(claims["client_id"], "reporting");
    assert_eq!(claims["aud"], "ward");
    assert_eq!(claims["scope"], "db:read");
    let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
    assert_eq!(exp - iat, 900);
    assert_eq!(claims["jti"].as_str().map(str::len), Some(22));

    // Every token gets its own jti.
    let again = issuer.access_token(&client).await?;
    let (_, claims2) = verify_with_jwks(&issuer, &again).await?;
    assert_ne!(claims["jti"], claims2["jti"]);
    issuer.stop().await
}

async fn scopes_default_narrow_and_refuse(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let client = issuer.confidential_client("svc", "db:read db:write").await?;
    let (status, body) = issuer.token(&client, &[("grant_type", "client_credentials")]).await?;
    assert_eq!((status, body["scope"].as_str()), (200, Some("db:read db:write")), "no scope asked: all allowed");
    let (status, body) = issuer.token(&client, &[("grant_type", "client_credentials"), ("scope", "")]).await?;
    assert_eq!((status, body["scope"].as_str()), (200, Some("db:read db:write")), "empty = omitted (RFC 6749 §3.1)");
    let (status, body) =
        issuer.token(&client, &[("grant_type", "client_credentials"), ("scope", "db:admin db:read")]).await?;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
    assert_eq!(body["error_description"], "a requested scope is not allowed for this client", "the request not echoed");
    let (status, body) =
        issuer.token(&client, &[("grant_type", "client_credentials"), ("scope", "bad\"scope")]).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    issuer.stop().await
}

async fn issuing_writes_nothing_to_the_database(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let client = issuer.confidential_client("svc", "db:read").await?;
    issuer.access_token(&client).await?; // warm the client cache
    let before = ward_testkit::store::row_counts(&issuer.database_url()).await?;
    for _ in 0..20 {
        issuer.access_token(&client).await?;
    }
    let after = ward_testkit::store::row_counts(&issuer.database_url()).await?;
    assert_eq!(before, after);
    issuer.stop().await
}

async fn malformed_requests_get_invalid_request(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let c = issuer.confidential_client("svc", "db:read").await?;
    let auth = Some((c.id.as_str(), c.secret.as_str()));
    let cases: &[(&str, &str, &str)] = &[
        ("application/json", r#"{"grant_type":"client_credentials"}"#, "invalid_request"),
        ("text/plain", "grant_type=client_credentials", "invalid_request"),
        (FORM, "grant_type=client_credentials&grant_type=client_credentials", "invalid_request"),
        (FORM, "grant_type=client_credentials&scope=db:read&scope=db:read", "invalid_request"),
        (FORM, "scope=db:read", "invalid_request"),
        (FORM, "grant_type=", "invalid_request"),
        (FORM, "", "invalid_request"),
    ];
    for (content_type, body, error) in cases {
        let (status, headers, json) = post_raw(&issuer, "/oauth/token", content_type, *body, auth).await?;
        assert_eq!((status, json["error"].as_str()), (400, Some(*error)), "{content_type} {body}");
        assert_eq!(headers["cache-control"], "no-store");
    }
    // A charset parameter on the content type is fine.
    let (status, _, _) = post_raw(
        &issuer,
        "/oauth/token",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "grant_type=client_credentials",
        auth,
    )
    .await?;
    assert_eq!(status, 200);
    // GET is not how tokens are requested.
    let resp = issuer.http.get(issuer.url("/oauth/token?grant_type=client_credentials")).send().await?;
    assert_eq!(resp.status(), 405);
    issuer.stop().await
}

async fn oversize_bodies_get_413(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::builder(backend).configure(|c| c.http.max_body_bytes = 4096).start().await?;
    let c = issuer.confidential_client("svc", "db:read").await?;
    let body = format!("grant_type=client_credentials&pad={}", "x".repeat(8192));
    let (status, headers, json) = post_raw(&issuer, "/oauth/token", FORM, body, Some((&c.id, &c.secret))).await?;
    assert_eq!(status, 413);
    assert_eq!(json["error"], "invalid_request");
    assert_eq!(headers["cache-control"], "no-store");
    // Many tiny parameters are bounded too.
    let many: Vec<String> = (0..100).map(|i| format!("p{i}=1")).collect();
    let (status, _, json) = post_raw(&issuer, "/oauth/token", FORM, many.join("&"), Some((&c.id, &c.secret))).await?;
    assert_eq!((status, json["error"].as_str()), (400, Some("invalid_request")));
    issuer.stop().await
}

async fn unknown_and_unauthorized_grants(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let c = issuer.confidential_client("svc", "db:read").await?;
    for grant in ["password", "implicit", "device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer", "nonsense"] {
        let (status, body) = issuer.token(&c, &[("grant_type", grant)]).await?;
        assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")), "{grant}");
    }
    // Grants Ward has, but this client (no redirect URI) was not given.
    for (grant, param) in [
        ("authorization_code", "code"),
        ("refresh_token", "refresh_token"),
        ("urn:ietf:params:oauth:grant-type:device_code", "device_code"),
    ] {
        let (status, body) = issuer.token(&c, &[("grant_type", grant), (param, "x")]).await?;
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "{grant}");
    }
    // A public client may not use client credentials: it has no way to authenticate.
    let public = issuer
        .create_client(ward_oauth::admin::NewClient {
            client_type: ward_core::ClientType::Public,
            redirect_uris: vec!["http://127.0.0.1/cb".into()],
            ..ward_testkit::confidential("cli", "")?
        })
        .await?;
    assert!(public.client_secret.is_none());
    let (status, _, json) =
        post_raw(&issuer, "/oauth/token", FORM, "grant_type=client_credentials&client_id=cli", None).await?;
    assert_eq!((status, json["error"].as_str()), (400, Some("unauthorized_client")));
    issuer.stop().await
}

async fn a_clients_roles_and_tenant_travel_in_its_tokens(backend: StoreBackend) -> Result<()> {
    for (roles_claim, tenant_claim) in [("roles", "tenant"), ("https://ward.example/roles", "org")] {
        let (r, t) = (roles_claim.to_owned(), tenant_claim.to_owned());
        let issuer = TestIssuer::builder(backend)
            .configure(move |c| {
                c.tokens.claims.roles = r;
                c.tokens.claims.tenant = t;
            })
            .start()
            .await?;
        let mut new = ward_testkit::issuer::confidential("reporting", "")?;
        new.roles = vec!["reader".into(), "x,admin".into()];
        new.tenant = Some("acme".into());
        let created = issuer.create_client(new).await?;
        let client = ward_testkit::TestClient {
            id: created.client.client_id.clone(),
            secret: created.client_secret.clone().unwrap_or_default(),
        };
        let token = issuer.access_token(&client).await?;
        let (_, claims) = verify_with_jwks(&issuer, &token).await?;
        assert_eq!(claims[roles_claim], serde_json::json!(["reader", "x,admin"]), "an array: a comma splits nothing");
        assert_eq!(claims[tenant_claim], "acme");

        // A client without them: no such claims at all.
        let plain = issuer.confidential_client("plain", "").await?;
        let (_, claims) = verify_with_jwks(&issuer, &issuer.access_token(&plain).await?).await?;
        assert!(claims.get(roles_claim).is_none() && claims.get(tenant_claim).is_none());
        issuer.stop().await?;
    }
    Ok(())
}
