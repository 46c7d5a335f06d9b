//! Pushed authorization requests (RFC 9126) and RP-initiated logout.

use anyhow::Result;
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, StoreBackend, TestIssuer, pkce, web_client};

use super::*;

ward_testkit::on_both_backends!(pushed_authorization_requests, rp_initiated_logout,);

async fn pushed_authorization_requests(backend: StoreBackend) -> Result<()> {
    let (issuer, secret) = setup(backend).await?;
    let (verifier, challenge) = pkce();
    let push = |extra: Vec<(&'static str, String)>| {
        let issuer = &issuer;
        let secret = secret.clone();
        let challenge = challenge.clone();
        async move {
            let mut form = vec![
                ("response_type", "code".to_owned()),
                ("redirect_uri", APP_REDIRECT.to_owned()),
                ("scope", "openid".to_owned()),
                ("state", "par-state".to_owned()),
                ("code_challenge", challenge),
                ("code_challenge_method", "S256".to_owned()),
            ];
            form.extend(extra);
            let response =
                issuer.http.post(issuer.url("/oauth/par")).basic_auth("app", Some(&secret)).form(&form).send().await?;
            let status = response.status().as_u16();
            anyhow::Ok((status, response.json::<serde_json::Value>().await?))
        }
    };
    let (status, pushed) = push(vec![]).await?;
    assert_eq!(status, 201, "{pushed}");
    assert_eq!(pushed["expires_in"], 60);
    let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    // A bad request is refused at push time, as JSON.
    let (status, body) = push(vec![("redirect_uri", "https://evil.example/cb".to_owned())]).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    // Without client authentication: nothing.
    let response = issuer
        .http
        .post(issuer.url("/oauth/par"))
        .form(&[("client_id", "app"), ("response_type", "code")])
        .send()
        .await?;
    assert_eq!(response.status(), 401);

    let mut browser = HttpBrowser::new()?;
    let url = authorize_url(&issuer, &[("client_id", "app"), ("request_uri", &request_uri)]);
    let code = code_for(&issuer, &mut browser, &url).await?;
    assert_eq!(redeem(&issuer, &secret, &code, &verifier).await?.0, 200);
    // Used once: a second authorization with it is refused.
    let again = browser.get(&url).await?;
    assert_eq!((again.status, again.location()), (400, None), "{}", again.body);
    // Another client cannot use it; an expired one is refused.
    let (_, pushed) = push(vec![]).await?;
    let fresh = pushed["request_uri"].as_str().unwrap().to_owned();
    let page = browser.get(&authorize_url(&issuer, &[("client_id", "other"), ("request_uri", &fresh)])).await?;
    assert_eq!(page.status, 400);
    issuer.clock.advance(61);
    let page = browser.get(&authorize_url(&issuer, &[("client_id", "app"), ("request_uri", &fresh)])).await?;
    assert_eq!(page.status, 400, "expired");

    // A client registered to require PAR cannot send a plain request.
    let mut strict = web_client("strict", ClientType::Confidential, APP_REDIRECT, "openid")?;
    strict.sign_in.require_par = true;
    issuer.create_client(strict).await?;
    let page = browser
        .get(&authorize_url(
            &issuer,
            &[
                ("response_type", "code"),
                ("client_id", "strict"),
                ("redirect_uri", APP_REDIRECT),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        ))
        .await?;
    assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_request"));
    issuer.stop().await
}

async fn rp_initiated_logout(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    issuer.user("alice", PASSWORD, &[]).await?;
    let mut app = web_client("app", ClientType::Confidential, APP_REDIRECT, "openid")?;
    app.sign_in.post_logout_redirect_uris = vec!["https://app.example/bye".into()];
    let secret = issuer.create_client(app).await?.client_secret.unwrap();
    let mut browser = HttpBrowser::new()?;
    let (verifier, challenge) = pkce();
    let code = code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[("scope", "openid")])).await?;
    let (_, tokens) = redeem(&issuer, &secret, &code, &verifier).await?;
    let id_token = tokens["id_token"].as_str().unwrap();

    // An unregistered return address is refused on a page, never followed.
    let url = |uri: &str| {
        issuer.url(&format!(
            "/oauth/logout?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("id_token_hint", id_token)
                .append_pair("post_logout_redirect_uri", uri)
                .append_pair("state", "bye-1")
                .finish()
        ))
    };
    let page = browser.get(&url("https://evil.example/bye")).await?;
    assert_eq!((page.status, page.location()), (400, None));
    let page = browser.get(&issuer.url("/oauth/logout?id_token_hint=garbage")).await?;
    assert_eq!(page.status, 400);

    // The registered one: a confirmation page, then back to the app with state.
    let confirm = browser.get(&url("https://app.example/bye")).await?;
    assert_eq!(confirm.status, 200);
    let csrf = confirm.field("csrf")?;
    let forged = browser.post(&issuer.url("/oauth/logout"), &issuer.base_url, &[("id_token_hint", id_token)]).await?;
    assert_eq!(forged.status, 403, "no CSRF token, no sign-out");
    let done = browser
        .post(
            &issuer.url("/oauth/logout"),
            &issuer.base_url,
            &[
                ("csrf", &csrf),
                ("id_token_hint", id_token),
                ("post_logout_redirect_uri", "https://app.example/bye"),
                ("state", "bye-1"),
            ],
        )
        .await?;
    assert_eq!(done.status, 303);
    assert_eq!(done.location(), Some("https://app.example/bye?state=bye-1"));
    assert!(!browser.cookies.contains_key("ward_session"), "signed out of Ward");
    // The grant the ID token named is over.
    let (status, _) = refresh(&issuer, &secret, tokens["refresh_token"].as_str().unwrap(), None).await?;
    assert_eq!(status, 400);
    // Signed out: the next authorization asks for a sign-in again.
    let again = browser.get(&app_request(&issuer, &challenge, &[("scope", "openid")])).await?;
    assert!(again.location().unwrap().starts_with("/sign-in"), "{:?}", again.location());
    issuer.stop().await
}
