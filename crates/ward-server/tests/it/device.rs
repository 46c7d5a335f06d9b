//! Device authorization (RFC 8628) end to end over HTTP, "my sessions", and tokeninfo.

use anyhow::{Result, ensure};
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, Page, StoreBackend, TestClient, TestIssuer};

use crate::sign_in::PASSWORD;

ward_testkit::on_both_backends!(
    a_device_signs_in_and_its_session_can_be_revoked,
    polling_rules_denial_expiry_and_reuse,
    user_codes_cannot_be_guessed,
    revoke_all_while_a_device_polls_and_other_peoples_sessions,
    tokeninfo_answers_for_live_tokens_only,
);

/// A public client `tv` (no redirect URI: device codes) and users alice and bob.
async fn setup(backend: StoreBackend) -> Result<(TestIssuer, TestClient)> {
    let issuer = TestIssuer::start(backend).await?;
    issuer.user("alice", PASSWORD, &["reader"]).await?;
    issuer.user("bob", PASSWORD, &[]).await?;
    let mut tv = ward_testkit::confidential("tv", "openid offline_access")?;
    tv.client_type = ClientType::Public;
    tv.name = "Living-room TV".into();
    issuer.create_client(tv).await?;
    let gate = issuer.resource_server("gate").await?;
    Ok((issuer, gate))
}

async fn start_device(issuer: &TestIssuer, client_id: &str) -> Result<serde_json::Value> {
    let response = issuer
        .http
        .post(issuer.url("/oauth/device_authorization"))
        .form(&[("client_id", client_id), ("scope", "openid offline_access")])
        .send()
        .await?;
    ensure!(response.status() == 200, "device authorization: {}", response.status());
    Ok(response.json().await?)
}

async fn poll(issuer: &TestIssuer, client_id: &str, device_code: &str) -> Result<(u16, serde_json::Value)> {
    let response = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", client_id),
            ("device_code", device_code),
        ])
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}

/// A browser signed in as `user`.
async fn signed_in(issuer: &TestIssuer, user: &str) -> Result<HttpBrowser> {
    let mut browser = HttpBrowser::new()?;
    let page = browser.get(&issuer.url("/sign-in")).await?;
    let csrf = page.field("csrf")?;
    let done = browser
        .post(&issuer.url("/sign-in"), &issuer.base_url, &[("csrf", &csrf), ("username", user), ("password", PASSWORD)])
        .await?;
    ensure!(done.status == 303, "sign-in: {}", done.status);
    Ok(browser)
}

/// Types `code` at /device and answers `decision` on the confirmation page.
async fn answer(issuer: &TestIssuer, browser: &mut HttpBrowser, code: &str, decision: &str) -> Result<Page> {
    let form_page = browser.get(&issuer.url("/device")).await?;
    let csrf = form_page.field("csrf")?;
    let confirm =
        browser.post(&issuer.url("/device"), &issuer.base_url, &[("csrf", &csrf), ("user_code", code)]).await?;
    ensure!(confirm.status == 200, "confirm page: {} {}", confirm.status, confirm.body);
    let (csrf, user_code) = (confirm.field("csrf")?, confirm.field("user_code")?);
    browser
        .post(
            &issuer.url("/device/decide"),
            &issuer.base_url,
            &[("csrf", &csrf), ("user_code", &user_code), ("decision", decision)],
        )
        .await
}

async fn introspect(issuer: &TestIssuer, gate: &TestClient, token: &str) -> Result<bool> {
    let body: serde_json::Value = issuer
        .http
        .post(issuer.url("/oauth/introspect"))
        .basic_auth(&gate.id, Some(&gate.secret))
        .form(&[("token", token)])
        .send()
        .await?
        .json()
        .await?;
    Ok(body["active"] == true)
}

async fn a_device_signs_in_and_its_session_can_be_revoked(backend: StoreBackend) -> Result<()> {
    let (issuer, gate) = setup(backend).await?;
    let codes = start_device(&issuer, "tv").await?;
    let user_code = codes["user_code"].as_str().unwrap().to_owned();
    assert!(regex_like_user_code(&user_code), "{user_code}");
    assert_eq!(codes["verification_uri"], issuer.url("/device"));
    assert_eq!(codes["verification_uri_complete"], issuer.url(&format!("/device?user_code={user_code}")));
    assert_eq!((codes["expires_in"].as_i64(), codes["interval"].as_i64()), (Some(1800), Some(5)));
    let device_code = codes["device_code"].as_str().unwrap().to_owned();
    let (status, body) = poll(&issuer, "tv", &device_code).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("authorization_pending")));

    // The person follows verification_uri_complete: sign in first, then the form, prefilled.
    let mut browser = HttpBrowser::new()?;
    let first = browser.get(codes["verification_uri_complete"].as_str().unwrap()).await?;
    assert!(
        first.location().unwrap().starts_with("/sign-in?return_to=%2Fdevice%3Fuser_code%3D"),
        "{:?}",
        first.location()
    );
    let sign_in = browser.follow(&issuer.base_url, &first).await?;
    let (csrf, return_to) = (sign_in.field("csrf")?, sign_in.field("return_to")?);
    let done = browser
        .post(
            &issuer.url("/sign-in"),
            &issuer.base_url,
            &[("csrf", &csrf), ("return_to", &return_to), ("username", "alice"), ("password", PASSWORD)],
        )
        .await?;
    let form = browser.follow(&issuer.base_url, &done).await?;
    assert_eq!(form.field("user_code")?, user_code, "prefilled");
    // Case, spaces and dashes do not matter.
    let typed = format!(" {} ", user_code.replace('-', " ").to_lowercase());
    let confirm = browser
        .post(&issuer.url("/device"), &issuer.base_url, &[("csrf", &form.field("csrf")?), ("user_code", &typed)])
        .await?;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(confirm.body.contains("Living-room TV") && confirm.body.contains(&user_code));
    assert!(confirm.body.contains("Check that this code matches"));
    let decided = browser
        .post(
            &issuer.url("/device/decide"),
            &issuer.base_url,
            &[("csrf", &confirm.field("csrf")?), ("user_code", &user_code), ("decision", "approve")],
        )
        .await?;
    assert_eq!(decided.status, 200);
    assert!(decided.body.contains("return to your device") && decided.body.contains("href=\"/device\""));

    // The device, polling at its interval, gets its tokens.
    issuer.clock.advance(5);
    let (status, tokens) = poll(&issuer, "tv", &device_code).await?;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string());
    let (_, claims) = crate::verify_with_jwks(&issuer, &access).await?;
    assert_eq!((claims["sub"].as_str(), claims["client_id"].as_str()), (Some("alice"), Some("tv")));
    let sid = claims["sid"].as_str().unwrap().to_owned();

    // The sessions page lists it; revoking it ends its tokens.
    let sessions = browser.get(&issuer.url("/account/sessions")).await?;
    assert_eq!(sessions.status, 200);
    assert!(sessions.body.contains("Living-room TV") && sessions.body.contains(&format!("id=\"session-{sid}\"")));
    assert!(sessions.body.contains("state-active"));
    let revoked = browser
        .post(
            &issuer.url("/account/sessions/revoke"),
            &issuer.base_url,
            &[("csrf", &sessions.field("csrf")?), ("grant_id", &sid)],
        )
        .await?;
    assert_eq!((revoked.status, revoked.location()), (303, Some("/account/sessions")));
    assert!(!introspect(&issuer, &gate, &access).await?);
    let refreshed = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "tv"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await?;
    assert_eq!(refreshed.status(), 400);
    let after = browser.get(&issuer.url("/account/sessions")).await?;
    assert!(after.body.contains("state-revoked"));
    issuer.stop().await
}

fn regex_like_user_code(code: &str) -> bool {
    let consonants = "BCDFGHJKLMNPQRSTVWXZ";
    code.len() == 9 && code.chars().enumerate().all(|(i, c)| if i == 4 { c == '-' } else { consonants.contains(c) })
}

async fn polling_rules_denial_expiry_and_reuse(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    let mut alice = signed_in(&issuer, "alice").await?;
    // Polling faster than the interval: slow_down, and the interval grows by 5 s.
    let codes = start_device(&issuer, "tv").await?;
    let device_code = codes["device_code"].as_str().unwrap();
    assert_eq!(poll(&issuer, "tv", device_code).await?.1["error"], "authorization_pending");
    issuer.clock.advance(2);
    assert_eq!(poll(&issuer, "tv", device_code).await?.1["error"], "slow_down");
    issuer.clock.advance(6);
    assert_eq!(poll(&issuer, "tv", device_code).await?.1["error"], "slow_down", "the interval is 10 s now");
    issuer.clock.advance(16);
    assert_eq!(poll(&issuer, "tv", device_code).await?.1["error"], "authorization_pending");
    // Another client's device code: nothing.
    let other = ward_testkit::confidential("radio", "openid")?;
    issuer.create_client(ward_oauth::admin::NewClient { client_type: ClientType::Public, ..other }).await?;
    let (status, body) = poll(&issuer, "radio", device_code).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    // Approved, redeemed once; the second redemption is refused.
    answer(&issuer, &mut alice, codes["user_code"].as_str().unwrap(), "approve").await?;
    issuer.clock.advance(20);
    assert_eq!(poll(&issuer, "tv", device_code).await?.0, 200);
    issuer.clock.advance(20);
    let (status, body) = poll(&issuer, "tv", device_code).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Denied: access_denied.
    let denied = start_device(&issuer, "tv").await?;
    let page = answer(&issuer, &mut alice, denied["user_code"].as_str().unwrap(), "deny").await?;
    assert!(page.body.contains("Request denied"));
    let (status, body) = poll(&issuer, "tv", denied["device_code"].as_str().unwrap()).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")));

    // Expired: expired_token, and the code can no longer be entered.
    let late = start_device(&issuer, "tv").await?;
    issuer.clock.advance(1801);
    let (status, body) = poll(&issuer, "tv", late["device_code"].as_str().unwrap()).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("expired_token")));
    let form = alice.get(&issuer.url("/device")).await?;
    let page = alice
        .post(
            &issuer.url("/device"),
            &issuer.base_url,
            &[("csrf", &form.field("csrf")?), ("user_code", late["user_code"].as_str().unwrap())],
        )
        .await?;
    assert_eq!(page.status, 400);
    // A client without the device grant cannot start one.
    issuer.confidential_client("svc", "openid").await?;
    let response =
        issuer.http.post(issuer.url("/oauth/device_authorization")).form(&[("client_id", "svc")]).send().await?;
    assert_eq!(response.status(), 401, "a confidential client must authenticate");
    issuer.stop().await
}

async fn user_codes_cannot_be_guessed(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    let codes = start_device(&issuer, "tv").await?;
    let mut mallory = signed_in(&issuer, "bob").await?;
    let form = mallory.get(&issuer.url("/device")).await?;
    let csrf = form.field("csrf")?;
    let mut statuses = Vec::new();
    for guess in ["BCDF-GHJK", "ZZZZ-ZZZZ", "XXXX-XXXX", "QQQQ-QQQQ", "LLLL-LLLL", "MMMM-MMMM", "not a code"] {
        statuses.push(
            mallory
                .post(&issuer.url("/device"), &issuer.base_url, &[("csrf", &csrf), ("user_code", guess)])
                .await?
                .status,
        );
    }
    assert_eq!(statuses[..3], [400, 400, 400], "{statuses:?}");
    assert!(statuses[3..].contains(&429), "wrong codes slow down: {statuses:?}");
    // Even the right code waits now.
    let right = mallory
        .post(
            &issuer.url("/device"),
            &issuer.base_url,
            &[("csrf", &csrf), ("user_code", codes["user_code"].as_str().unwrap())],
        )
        .await?;
    assert_eq!(right.status, 429);
    assert!(right.headers.contains_key("retry-after"));
    // A decision without a CSRF token changes nothing.
    let forged = mallory
        .post(
            &issuer.url("/device/decide"),
            &issuer.base_url,
            &[("user_code", codes["user_code"].as_str().unwrap()), ("decision", "approve")],
        )
        .await?;
    assert_eq!(forged.status, 403);
    assert_eq!(poll(&issuer, "tv", codes["device_code"].as_str().unwrap()).await?.1["error"], "authorization_pending");
    issuer.stop().await
}

async fn revoke_all_while_a_device_polls_and_other_peoples_sessions(backend: StoreBackend) -> Result<()> {
    let (issuer, gate) = setup(backend).await?;
    let mut alice = signed_in(&issuer, "alice").await?;
    // One device already signed in, another approved but not yet collected.
    let first = start_device(&issuer, "tv").await?;
    answer(&issuer, &mut alice, first["user_code"].as_str().unwrap(), "approve").await?;
    let (_, tokens) = poll(&issuer, "tv", first["device_code"].as_str().unwrap()).await?;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let second = start_device(&issuer, "tv").await?;
    answer(&issuer, &mut alice, second["user_code"].as_str().unwrap(), "approve").await?;

    // Bob cannot revoke alice's session, with his own valid form.
    let (_, claims) = crate::verify_with_jwks(&issuer, &access).await?;
    let sid = claims["sid"].as_str().unwrap();
    let mut bob = signed_in(&issuer, "bob").await?;
    let page = bob.get(&issuer.url("/account/sessions")).await?;
    assert!(page.body.contains("None yet"));
    // Any page's token is this browser's token.
    let csrf = bob.get(&issuer.url("/device")).await?.field("csrf")?;
    let attempt = bob
        .post(&issuer.url("/account/sessions/revoke"), &issuer.base_url, &[("csrf", &csrf), ("grant_id", sid)])
        .await?;
    assert_eq!(attempt.status, 404);
    assert!(introspect(&issuer, &gate, &access).await?, "alice's session is untouched");
    // Without a CSRF token, alice's own revoke-all does nothing either.
    let forged = alice.post(&issuer.url("/account/sessions/revoke-all"), &issuer.base_url, &[]).await?;
    assert_eq!(forged.status, 403);
    assert!(introspect(&issuer, &gate, &access).await?);

    let page = alice.get(&issuer.url("/account/sessions")).await?;
    let done = alice
        .post(&issuer.url("/account/sessions/revoke-all"), &issuer.base_url, &[("csrf", &page.field("csrf")?)])
        .await?;
    assert_eq!(done.status, 303);
    assert!(!introspect(&issuer, &gate, &access).await?);
    issuer.clock.advance(10);
    let (status, body) = poll(&issuer, "tv", second["device_code"].as_str().unwrap()).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("access_denied")), "the polling device gets nothing");
    // Alice is still signed in to Ward itself.
    assert_eq!(alice.get(&issuer.url("/account/sessions")).await?.status, 200);
    issuer.stop().await
}

async fn tokeninfo_answers_for_live_tokens_only(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let svc = issuer.confidential_client("svc", "db:read").await?;
    let token = issuer.access_token(&svc).await?;
    let by_header: serde_json::Value =
        issuer.http.get(issuer.url("/oauth/tokeninfo")).bearer_auth(&token).send().await?.json().await?;
    assert_eq!((by_header["sub"].as_str(), by_header["scope"].as_str()), (Some("svc"), Some("db:read")));
    assert!(by_header["sid"].is_string() && by_header["exp"].is_i64());
    let by_query: serde_json::Value =
        issuer.http.get(issuer.url(&format!("/oauth/tokeninfo?access_token={token}"))).send().await?.json().await?;
    assert_eq!(by_query, by_header);
    let both = issuer
        .http
        .get(issuer.url(&format!("/oauth/tokeninfo?access_token={token}")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(both.status(), 400);
    let none = issuer.http.get(issuer.url("/oauth/tokeninfo")).send().await?;
    assert_eq!((none.status().as_u16(), none.headers()["www-authenticate"].to_str()?), (401, "Bearer realm=\"ward\""));
    let bad = issuer.http.get(issuer.url("/oauth/tokeninfo")).bearer_auth("x.y.z").send().await?;
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()["www-authenticate"].to_str()?.contains("error=\"invalid_token\""));
    // Revoked, then expired: invalid_token.
    issuer
        .http
        .post(issuer.url("/oauth/revoke"))
        .basic_auth(&svc.id, Some(&svc.secret))
        .form(&[("token", &token)])
        .send()
        .await?;
    assert_eq!(issuer.http.get(issuer.url("/oauth/tokeninfo")).bearer_auth(&token).send().await?.status(), 401);
    let other = issuer.access_token(&svc).await?;
    issuer.clock.advance(16 * 60);
    assert_eq!(issuer.http.get(issuer.url("/oauth/tokeninfo")).bearer_auth(&other).send().await?.status(), 401);
    issuer.stop().await
}
