//! Refresh tokens: rotation and reuse, revocation, fixed tokens, disabled users.

use anyhow::Result;
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, StoreBackend, TestIssuer, pkce, web_client};

use super::*;

ward_testkit::on_both_backends!(
    refresh_tokens_rotate_and_a_late_reuse_revokes_the_grant,
    a_disabled_user_loses_every_grant_at_once,
    revoking_a_refresh_token_ends_its_grant,
    fixed_refresh_tokens_stay_the_same,
);

async fn refresh_tokens_rotate_and_a_late_reuse_revokes_the_grant(backend: StoreBackend) -> Result<()> {
    let (issuer, secret) = setup(backend).await?;
    let first = tokens(&issuer, &secret, &[]).await?;
    let r1 = first["refresh_token"].as_str().unwrap();

    let (status, second) = refresh(&issuer, &secret, r1, None).await?;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r2, "rotated");
    assert!(second["id_token"].is_string(), "openid was granted");

    // Scope may only narrow.
    let (status, body) = refresh(&issuer, &secret, r2, Some("openid db:write")).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, narrow) = refresh(&issuer, &secret, r2, Some("db:read")).await?;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "db:read");
    assert!(narrow["id_token"].is_null(), "no openid, no ID token");
    let r3 = narrow["refresh_token"].as_str().unwrap();

    // r1 again within the grace window (two tabs refreshing at once): honoured.
    issuer.clock.advance(5);
    let (status, body) = refresh(&issuer, &secret, r1, None).await?;
    assert_eq!(status, 200, "reuse inside the grace window: {body}");

    // Another client presenting the token gets nothing, and changes nothing.
    let other = issuer.create_client(web_client("other", ClientType::Confidential, APP_REDIRECT, "openid")?).await?;
    let response = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .basic_auth("other", other.client_secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", r3)])
        .send()
        .await?;
    assert_eq!(response.status(), 400);

    // r1 after the grace window: the token was copied; the whole grant dies.
    issuer.clock.advance(30);
    let access = narrow["access_token"].as_str().unwrap();
    assert!(introspect_active(&issuer, &secret, access).await?);
    let (status, body) = refresh(&issuer, &secret, r1, None).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = refresh(&issuer, &secret, r3, None).await?;
    assert_eq!(status, 400, "every refresh token of the grant is dead");
    assert!(!introspect_active(&issuer, &secret, access).await?, "its access tokens are inactive at once");
    issuer.stop().await
}

async fn a_disabled_user_loses_every_grant_at_once(backend: StoreBackend) -> Result<()> {
    let (issuer, secret) = setup(backend).await?;
    let tokens = tokens(&issuer, &secret, &[]).await?;
    let users = ward_oauth::users::UserAdmin {
        store: issuer.oauth.store(),
        clock: &issuer.clock,
        hashing: ward_server::bootstrap::password_hashing(&issuer.config),
    };
    users.set_disabled("alice", true).await?;
    let (status, body) = refresh(&issuer, &secret, tokens["refresh_token"].as_str().unwrap(), None).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "refresh dies at once");
    // Introspection on this node learns it at its next sync (1 s by default).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(!introspect_active(&issuer, &secret, tokens["access_token"].as_str().unwrap()).await?);
    let info = issuer
        .http
        .get(issuer.url("/oauth/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await?;
    assert_eq!(info.status(), 401);
    // Their browser session ended too, and they cannot sign in.
    let mut browser = HttpBrowser::new()?;
    let (_, challenge) = pkce();
    let first = browser.get(&app_request(&issuer, &challenge, &[])).await?;
    assert_eq!(sign_in(&issuer, &mut browser, &first, PASSWORD).await?.status, 401);
    issuer.stop().await
}

async fn revoking_a_refresh_token_ends_its_grant(backend: StoreBackend) -> Result<()> {
    let (issuer, secret) = setup(backend).await?;
    let tokens = tokens(&issuer, &secret, &[]).await?;
    let (access, refresh_token) = (tokens["access_token"].as_str().unwrap(), tokens["refresh_token"].as_str().unwrap());
    // Another client cannot revoke it.
    let other = issuer.create_client(web_client("other", ClientType::Confidential, APP_REDIRECT, "openid")?).await?;
    let response = issuer
        .http
        .post(issuer.url("/oauth/revoke"))
        .basic_auth("other", other.client_secret.as_deref())
        .form(&[("token", refresh_token)])
        .send()
        .await?;
    assert_eq!(response.status(), 400);
    assert!(introspect_active(&issuer, &secret, access).await?);
    // Its own client can (RFC 7009 §2.1): the refresh token and the grant's access tokens end.
    let response = issuer
        .http
        .post(issuer.url("/oauth/revoke"))
        .basic_auth("app", Some(&secret))
        .form(&[("token", refresh_token), ("token_type_hint", "refresh_token")])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(refresh(&issuer, &secret, refresh_token, None).await?.0, 400);
    assert!(!introspect_active(&issuer, &secret, access).await?);
    // Revoking again, or an unknown token: 200 and nothing happens.
    let response = issuer
        .http
        .post(issuer.url("/oauth/revoke"))
        .basic_auth("app", Some(&secret))
        .form(&[("token", refresh_token)])
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    issuer.stop().await
}

async fn fixed_refresh_tokens_stay_the_same(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    issuer.user("alice", PASSWORD, &[]).await?;
    let mut app = web_client("app", ClientType::Confidential, APP_REDIRECT, "openid offline_access")?;
    app.sign_in.fixed_refresh_tokens = true;
    app.skip_consent = true;
    let secret = issuer.create_client(app).await?.client_secret.unwrap();
    let mut browser = HttpBrowser::new()?;
    let (verifier, challenge) = pkce();
    let code =
        code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[("scope", "openid offline_access")]))
            .await?;
    let (_, first) = redeem(&issuer, &secret, &code, &verifier).await?;
    let token = first["refresh_token"].as_str().unwrap();
    for _ in 0..3 {
        issuer.clock.advance(60);
        let (status, body) = refresh(&issuer, &secret, token, None).await?;
        assert_eq!(status, 200, "{body}");
        assert!(body["refresh_token"].is_null(), "the same refresh token goes on working");
    }
    issuer.stop().await
}
