//! RFC 7662 introspection and RFC 7009 revocation.

use anyhow::Result;
use serde_json::Value;
use ward_core::Clock as _;
use ward_testkit::{StoreBackend, TestClient, TestIssuer};

use crate::{FORM, post_raw};

ward_testkit::on_both_backends!(
    introspection_shows_active_tokens_to_authenticated_callers,
    revocation_is_immediate_and_owner_only,
    foreign_expired_and_garbage_tokens_are_inactive,
    revocation_on_one_node_holds_on_another,
);

async fn introspect(issuer: &TestIssuer, caller: &TestClient, token: &str) -> Result<(u16, Value)> {
    let (status, headers, json) =
        post_raw(issuer, "/oauth/introspect", FORM, format!("token={token}"), Some((&caller.id, &caller.secret)))
            .await?;
    if status == 200 {
        assert_eq!(headers["cache-control"], "no-store");
    }
    Ok((status, json))
}

async fn revoke(issuer: &TestIssuer, caller: &TestClient, body: String) -> Result<(u16, Value)> {
    let (status, _, json) = post_raw(issuer, "/oauth/revoke", FORM, body, Some((&caller.id, &caller.secret))).await?;
    Ok((status, json))
}

async fn introspection_shows_active_tokens_to_authenticated_callers(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let app = issuer.confidential_client("app", "db:read").await?;
    let gate = issuer.resource_server("gate").await?;
    let token = issuer.access_token(&app).await?;

    let (status, body) = introspect(&issuer, &gate, &token).await?;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "app");
    assert_eq!(body["sub"], "app");
    assert_eq!(body["scope"], "db:read");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], issuer.base_url.as_str());
    assert_eq!(body["aud"], "ward");
    assert!(body["exp"].as_i64() > body["iat"].as_i64());

    // The token's own client may look too; any other client learns nothing (RFC 7662 §4).
    assert_eq!(introspect(&issuer, &app, &token).await?.1["active"], true);
    let nosy = issuer.confidential_client("nosy", "db:read").await?;
    assert_eq!(introspect(&issuer, &nosy, &token).await?, (200, serde_json::json!({"active": false})));

    // The hint is only a hint.
    let (_, _, json) = post_raw(
        &issuer,
        "/oauth/introspect",
        FORM,
        format!("token={token}&token_type_hint=refresh_token"),
        Some((&gate.id, &gate.secret)),
    )
    .await?;
    assert_eq!(json["active"], true);

    // Callers must authenticate.
    let (status, _, json) = post_raw(&issuer, "/oauth/introspect", FORM, format!("token={token}"), None).await?;
    assert_eq!((status, json["error"].as_str()), (401, Some("invalid_client")));
    let wrong = TestClient { id: "gate".into(), secret: "nope".into() };
    assert_eq!(introspect(&issuer, &wrong, &token).await?.0, 401);
    // token is required.
    let (status, _, json) = post_raw(&issuer, "/oauth/introspect", FORM, "", Some((&gate.id, &gate.secret))).await?;
    assert_eq!((status, json["error"].as_str()), (400, Some("invalid_request")));
    issuer.stop().await
}

async fn revocation_is_immediate_and_owner_only(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let app = issuer.confidential_client("app", "db:read").await?;
    let other = issuer.confidential_client("other", "db:read").await?;
    let token = issuer.access_token(&app).await?;

    // Another client may not revoke app's token (RFC 7009 §2.1), and the token lives on.
    let (status, body) = revoke(&issuer, &other, format!("token={token}")).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    assert_eq!(introspect(&issuer, &app, &token).await?.1["active"], true);

    let (status, _, _) =
        post_raw(&issuer, "/oauth/revoke", FORM, format!("token={token}"), Some((&app.id, &app.secret))).await?;
    assert_eq!(status, 200);
    assert_eq!(introspect(&issuer, &app, &token).await?.1, serde_json::json!({"active": false}), "inactive at once");
    // Revoking twice, or revoking junk, is still 200.
    assert_eq!(revoke(&issuer, &app, format!("token={token}")).await?.0, 200);
    assert_eq!(revoke(&issuer, &app, "token=not-a-token".into()).await?.0, 200);
    assert_eq!(revoke(&issuer, &app, "token=a.b.c&token_type_hint=access_token".into()).await?.0, 200);
    // Missing token, no authentication.
    assert_eq!(revoke(&issuer, &app, String::new()).await?.1["error"], "invalid_request");
    let (status, _, _) = post_raw(&issuer, "/oauth/revoke", FORM, format!("token={token}"), None).await?;
    assert_eq!(status, 401);
    // Other tokens of the same client are untouched.
    let fresh = issuer.access_token(&app).await?;
    assert_eq!(introspect(&issuer, &app, &fresh).await?.1["active"], true);
    issuer.stop().await
}

async fn foreign_expired_and_garbage_tokens_are_inactive(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let elsewhere = TestIssuer::start(StoreBackend::Sqlite).await?;
    let gate = issuer.resource_server("gate").await?;
    let app = issuer.confidential_client("app", "").await?;
    let foreign_app = elsewhere.confidential_client("app", "").await?;

    // Signed by another issuer's key.
    let foreign = elsewhere.access_token(&foreign_app).await?;
    assert_eq!(introspect(&issuer, &gate, &foreign).await?.1, serde_json::json!({"active": false}));

    // Our kid in the header, but a signature from another key.
    let ours = issuer.access_token(&app).await?;
    let (ours_head, _) = ours.split_once('.').unwrap_or_default();
    let forged = format!("{ours_head}.{}", foreign.split_once('.').map(|(_, rest)| rest).unwrap_or_default());
    assert_eq!(introspect(&issuer, &gate, &forged).await?.1["active"], false);

    for junk in ["x", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", &"A".repeat(20_000)] {
        assert_eq!(introspect(&issuer, &gate, junk).await?.1["active"], false, "{junk:.20}");
    }

    // Expired: move the issuer's clock past the lifetime.
    issuer.clock.advance(901);
    assert_eq!(introspect(&issuer, &gate, &ours).await?.1["active"], false);
    elsewhere.stop().await?;
    issuer.stop().await
}

async fn revocation_on_one_node_holds_on_another(backend: StoreBackend) -> Result<()> {
    let a = TestIssuer::start(backend).await?;
    let b = TestIssuer::builder(backend).node_of(&a)?.start().await?;
    let app = a.confidential_client("app", "").await?;
    let gate = a.resource_server("gate").await?;
    let now = a.clock.now();
    assert_eq!(
        a.oauth.keyring().signing_key(now).kid(),
        b.oauth.keyring().signing_key(now).kid(),
        "one signing key for both"
    );

    let token = a.access_token(&app).await?;
    assert_eq!(introspect(&a, &gate, &token).await?.1["active"], true);
    assert_eq!(introspect(&b, &gate, &token).await?.1["active"], true);
    let (status, _) = revoke(&b, &app, format!("token={token}")).await?;
    assert_eq!(status, 200);
    assert_eq!(introspect(&b, &gate, &token).await?.1["active"], false, "at once on the revoking node");
    // a reads other nodes' revocations every revocation_sync_interval (1 s).
    let started = std::time::Instant::now();
    while introspect(&a, &gate, &token).await?.1["active"] == true {
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "a still accepts the token after 3 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // With a zero interval, a node asks the database every time: no delay at all.
    let strict = TestIssuer::builder(backend)
        .node_of(&a)?
        .configure(|c| c.tokens.revocation_sync_interval = std::time::Duration::ZERO)
        .start()
        .await?;
    let token = a.access_token(&app).await?;
    assert_eq!(introspect(&strict, &gate, &token).await?.1["active"], true);
    assert_eq!(revoke(&a, &app, format!("token={token}")).await?.0, 200);
    assert_eq!(introspect(&strict, &gate, &token).await?.1["active"], false);
    strict.stop().await?;
    b.stop().await?;
    a.stop().await
}
