//! The whole sign-in journey in a real browser: headless Chromium signs in, consents, is sent
//! back to a single-page app's loopback callback (query and form_post), and signs out through
//! the app. Screenshots of every page go to `target/artifacts/sign-in/`.

use anyhow::Result;
use ward_core::ClientType;
use ward_testkit::chromium::{CallbackServer, Chromium};
use ward_testkit::{StoreBackend, TestIssuer, pkce, web_client};

use crate::sign_in::PASSWORD;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_in_to_a_spa_in_chromium() -> Result<()> {
    let Some(chromium) = Chromium::start("sign-in").await? else { return Ok(()) };
    let result = journey(&chromium).await;
    chromium.quit().await?;
    result
}

async fn journey(chromium: &Chromium) -> Result<()> {
    let issuer = TestIssuer::start(StoreBackend::Sqlite).await?;
    issuer.user("alice", PASSWORD, &["reader"]).await?;
    let mut app = CallbackServer::start().await?;
    let redirect = format!("{}/callback", app.base_url);
    let mut spa = web_client("spa", ClientType::Public, &redirect, "openid profile email offline_access")?;
    spa.name = "Example SPA".into();
    spa.sign_in.post_logout_redirect_uris = vec![format!("{}/bye", app.base_url)];
    issuer.create_client(spa).await?;

    let (verifier, challenge) = pkce();
    let authorize = |mode: &str, challenge: &str| {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", "spa")
            .append_pair("redirect_uri", &redirect)
            .append_pair("scope", "openid profile email offline_access")
            .append_pair("state", "xyz")
            .append_pair("nonce", "abc")
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("response_mode", mode)
            .finish();
        issuer.url(&format!("/oauth/authorize?{query}"))
    };

    chromium.goto(&authorize("query", &challenge)).await?;
    chromium.wait_for("#username").await?;
    chromium.screenshot("01-sign-in").await?;
    chromium.fill("#username", "alice").await?;
    chromium.fill("#password", "not the password").await?;
    chromium.click("#sign-in").await?;
    chromium.wait_for("#sign-in-error").await?;
    assert_eq!(chromium.text("#sign-in-error").await?, "The username or password is incorrect.");
    chromium.screenshot("02-sign-in-failed").await?;
    chromium.fill("#password", PASSWORD).await?;
    chromium.click("#sign-in").await?;

    chromium.wait_for("#approve").await?;
    assert!(chromium.source().await?.contains("Example SPA"));
    chromium.screenshot("03-consent").await?;
    chromium.click("#approve").await?;

    let callback = app.next().await?;
    assert_eq!((callback.method.as_str(), callback.path.as_str()), ("GET", "/callback"));
    assert_eq!(callback.param("state"), Some("xyz"));
    assert_eq!(callback.param("iss"), Some(issuer.base_url.as_str()));
    chromium.wait_for("#done").await?;
    chromium.screenshot("04-back-at-the-app").await?;

    // The SPA redeems the code as a public client, with its verifier.
    let code = callback.param("code").unwrap().to_owned();
    let tokens: serde_json::Value = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", "spa"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .json()
        .await?;
    let access = tokens["access_token"].as_str().expect("an access token").to_owned();
    let info: serde_json::Value =
        issuer.http.get(issuer.url("/oauth/userinfo")).bearer_auth(&access).send().await?.json().await?;
    assert_eq!(info["sub"], "alice");
    let refreshed: serde_json::Value = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "spa"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await?
        .json()
        .await?;
    assert!(refreshed["access_token"].is_string(), "{refreshed}");

    // Signed in and consented: form_post goes straight back, posted by the page's script.
    let (_, challenge) = pkce();
    chromium.goto(&authorize("form_post", &challenge)).await?;
    let posted = app.next().await?;
    assert_eq!(posted.method, "POST", "the form_post page submitted itself");
    assert_eq!(posted.param("state"), Some("xyz"));
    assert!(posted.param("code").is_some());

    chromium.goto(&issuer.url("/")).await?;
    chromium.wait_for("#sign-out").await?;
    chromium.screenshot("05-home-signed-in").await?;

    // The SPA signs the person out and gets them back.
    let logout = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", &format!("{}/bye", app.base_url))
        .append_pair("state", "later")
        .finish();
    chromium.goto(&issuer.url(&format!("/oauth/logout?{logout}"))).await?;
    chromium.wait_for("#confirm-sign-out").await?;
    chromium.screenshot("06-sign-out").await?;
    chromium.click("#confirm-sign-out").await?;
    let bye = app.next().await?;
    assert_eq!((bye.path.as_str(), bye.param("state")), ("/bye", Some("later")));
    chromium.goto(&issuer.url("/")).await?;
    chromium.wait_for("#sign-in-link").await?;

    // A request that cannot be sent back: an error page, not a redirect.
    chromium
        .goto(
            &issuer.url("/oauth/authorize?client_id=spa&redirect_uri=https%3A%2F%2Fevil.example%2F&response_type=code"),
        )
        .await?;
    assert!(chromium.source().await?.contains("redirect_uri is not registered"));
    assert!(chromium.url().await?.starts_with(&issuer.base_url));
    chromium.screenshot("07-error").await?;
    issuer.stop().await
}

/// RFC 8628 in a real browser: a device asks for codes and polls; Chromium signs in, enters
/// the code and approves; the device gets its tokens; the sessions page lists and revokes it.
/// Screenshots go to `target/artifacts/device/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_connects_a_device_in_chromium() -> Result<()> {
    let Some(chromium) = Chromium::start("device").await? else { return Ok(()) };
    let result = device_journey(&chromium).await;
    chromium.quit().await?;
    result
}

async fn device_journey(chromium: &Chromium) -> Result<()> {
    let issuer = TestIssuer::start(StoreBackend::Sqlite).await?;
    issuer.user("alice", PASSWORD, &["reader"]).await?;
    let mut tv = ward_testkit::confidential("tv", "openid offline_access")?;
    tv.client_type = ClientType::Public;
    tv.name = "Living-room TV".into();
    issuer.create_client(tv).await?;
    let codes: serde_json::Value = issuer
        .http
        .post(issuer.url("/oauth/device_authorization"))
        .form(&[("client_id", "tv"), ("scope", "openid offline_access")])
        .send()
        .await?
        .json()
        .await?;
    let user_code = codes["user_code"].as_str().unwrap().to_owned();
    let poll = || async {
        let response = issuer
            .http
            .post(issuer.url("/oauth/token"))
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("client_id", "tv"),
                ("device_code", codes["device_code"].as_str().unwrap()),
            ])
            .send()
            .await?;
        anyhow::Ok(response.json::<serde_json::Value>().await?)
    };
    assert_eq!(poll().await?["error"], "authorization_pending");

    // The person types the code by hand, in lower case with a space, after signing in.
    chromium.goto(&issuer.url("/device")).await?;
    chromium.wait_for("#username").await?;
    chromium.fill("#username", "alice").await?;
    chromium.fill("#password", PASSWORD).await?;
    chromium.click("#sign-in").await?;
    chromium.wait_for("#user_code").await?;
    chromium.screenshot("01-enter-code").await?;
    chromium.fill("#user_code", &user_code.replace('-', " ").to_lowercase()).await?;
    chromium.click("#continue").await?;
    chromium.wait_for("#approve").await?;
    assert_eq!(chromium.text("#user-code").await?, user_code);
    chromium.screenshot("02-confirm").await?;
    chromium.click("#approve").await?;
    chromium.wait_for("#device-done").await?;
    chromium.screenshot("03-connected").await?;

    issuer.clock.advance(5);
    let tokens = poll().await?;
    assert!(tokens["access_token"].is_string(), "{tokens}");

    chromium.goto(&issuer.url("/account/sessions")).await?;
    chromium.wait_for("#revoke-all").await?;
    assert!(chromium.source().await?.contains("Living-room TV"));
    chromium.screenshot("04-sessions").await?;
    chromium.click("#revoke-all").await?;
    chromium.wait_for(".state-revoked").await?;
    chromium.screenshot("05-revoked").await?;
    let info = issuer
        .http
        .get(issuer.url("/oauth/tokeninfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await?;
    assert_eq!(info.status(), 401, "its tokens died");
    issuer.stop().await
}
