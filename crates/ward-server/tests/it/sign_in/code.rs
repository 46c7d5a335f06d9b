//! The authorization code flow: the happy path, PKCE, redirect URIs, code replay, prompt and max_age.

use anyhow::Result;
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, StoreBackend, pkce, web_client};

use super::*;
use crate::verify_with_jwks;

ward_testkit::on_both_backends!(
    a_person_signs_in_consents_and_the_app_gets_tokens,
    a_replayed_code_revokes_its_grant,
    pkce_is_required_and_checked,
    redirect_uris_match_exactly_and_errors_never_go_elsewhere,
    prompt_none_and_consent_decisions,
);

async fn a_person_signs_in_consents_and_the_app_gets_tokens(backend: StoreBackend) -> Result<()> {
    let (issuer, secret) = setup(backend).await?;
    let mut browser = HttpBrowser::new()?;
    let (verifier, challenge) = pkce();
    let url = app_request(&issuer, &challenge, &[]);

    // Not signed in: to the sign-in page, which says where to come back to.
    let first = browser.get(&url).await?;
    assert_eq!(first.status, 303);
    assert!(
        first.location().unwrap().starts_with("/sign-in?return_to=%2Foauth%2Fauthorize%3F"),
        "{:?}",
        first.location()
    );
    let before = browser.cookies.clone();
    let signed_in = sign_in(&issuer, &mut browser, &first, PASSWORD).await?;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let session = browser.cookies.get("ward_session").cloned().expect("a session cookie");
    assert!(!before.values().any(|v| *v == session), "a new session value at sign-in");
    let cookie = signed_in
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("ward_session="))
        .unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");

    // Back at the authorization endpoint: the consent page, then the code.
    let consent = browser.follow(&issuer.base_url, &signed_in).await?;
    assert_eq!(consent.status, 200, "{:?} {}", signed_in.location(), consent.body);
    for scope in ["openid", "profile", "email", "db:read"] {
        assert!(consent.body.contains(&format!("<code>{scope}</code>")), "{scope} listed");
    }
    let back = decide(&issuer, &mut browser, &consent, "approve").await?;
    assert_eq!(back.status, 303);
    assert!(back.location().unwrap().starts_with(&format!("{APP_REDIRECT}?code=")), "{:?}", back.location());
    assert_eq!(back.redirect_param("state").as_deref(), Some("st-123"));
    assert_eq!(back.redirect_param("iss").as_deref(), Some(issuer.base_url.as_str()), "RFC 9207");
    let code = back.redirect_param("code").unwrap();

    let (status, tokens) = redeem(&issuer, &secret, &code, &verifier).await?;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string());
    let (_, access) = verify_with_jwks(&issuer, tokens["access_token"].as_str().unwrap()).await?;
    assert_eq!(access["sub"], "alice");
    assert_eq!(access["client_id"], "app");
    assert_eq!(access["roles"], serde_json::json!(["reader"]));
    assert_eq!(access["email"], "alice@example.com");
    let sid = access["sid"].as_str().unwrap().to_owned();

    // The ID token: checked with an independent library against the published keys.
    let id_token = tokens["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token)?;
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwks: jsonwebtoken::jwk::JwkSet =
        issuer.http.get(issuer.url("/.well-known/jwks.json")).send().await?.json().await?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap())?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_audience(&["app"]);
    validation.set_issuer(&[&issuer.config.issuer]);
    let id = jsonwebtoken::decode::<serde_json::Value>(id_token, &key, &validation)?.claims;
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["azp"], "app");
    assert_eq!(id["sid"], sid.as_str());
    assert!(id["auth_time"].as_i64().unwrap() <= id["iat"].as_i64().unwrap());
    assert_eq!(id["name"], "alice example");
    assert_eq!(id["preferred_username"], "alice");
    let at_hash =
        ward_token::secret::left_half_hash(ward_core::SigningAlg::ES256, tokens["access_token"].as_str().unwrap());
    assert_eq!(id["at_hash"], at_hash.as_str());

    // UserInfo with the access token; a Bearer challenge without one, or with a bad one.
    let info: serde_json::Value = issuer
        .http
        .get(issuer.url("/oauth/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(info["sub"], "alice");
    assert_eq!(info["email"], "alice@example.com");
    let none = issuer.http.get(issuer.url("/oauth/userinfo")).send().await?;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"ward\"");
    let bad = issuer.http.post(issuer.url("/oauth/userinfo")).bearer_auth("not-a-token").send().await?;
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()["www-authenticate"].to_str()?.starts_with("Bearer realm=\"ward\", error=\"invalid_token\""));

    // Consent is remembered: the next authorization goes straight back to the app.
    let (_, challenge) = pkce();
    let again = browser.get(&app_request(&issuer, &challenge, &[])).await?;
    assert_eq!(again.status, 303);
    assert!(again.location().unwrap().starts_with(APP_REDIRECT));
    // Asking for more than was consented asks again.
    let (_, challenge) = pkce();
    let more = browser.get(&app_request(&issuer, &challenge, &[("scope", "openid offline_access")])).await?;
    assert_eq!(more.status, 200, "consent for the new scope");
    issuer.stop().await
}

async fn a_replayed_code_revokes_its_grant(backend: StoreBackend) -> Result<()> {
    let (issuer, secret) = setup(backend).await?;
    let mut browser = HttpBrowser::new()?;
    let (verifier, challenge) = pkce();
    let code = code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[])).await?;
    let (status, first) = redeem(&issuer, &secret, &code, &verifier).await?;
    assert_eq!(status, 200);
    let (status, again) = redeem(&issuer, &secret, &code, &verifier).await?;
    assert_eq!((status, again["error"].as_str()), (400, Some("invalid_grant")));
    assert!(!introspect_active(&issuer, &secret, first["access_token"].as_str().unwrap()).await?);
    let (status, _) = refresh(&issuer, &secret, first["refresh_token"].as_str().unwrap(), None).await?;
    assert_eq!(status, 400, "the replay revoked the grant the code created");

    // A code expires after 60 s.
    let (verifier, challenge) = pkce();
    let code = code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[])).await?;
    issuer.clock.advance(61);
    let (status, body) = redeem(&issuer, &secret, &code, &verifier).await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    // A code is bound to its redirect URI.
    let (verifier, challenge) = pkce();
    let code = code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[])).await?;
    let (status, body) = exchange(
        &issuer,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", &verifier),
        ],
    )
    .await?;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));
    let (status, _) = redeem(&issuer, &secret, &code, &verifier).await?;
    assert_eq!(status, 400, "a failed redemption spends the code");
    issuer.stop().await
}

async fn pkce_is_required_and_checked(backend: StoreBackend) -> Result<()> {
    let (issuer, secret) = setup(backend).await?;
    let mut browser = HttpBrowser::new()?;
    // Signed in once; then every request below is decided at the endpoint.
    let (_, challenge) = pkce();
    code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[])).await?;

    for (extra, what) in
        [(vec![("code_challenge_method", "plain")], "plain"), (vec![("code_challenge", "too-short")], "malformed")]
    {
        let page = browser.get(&app_request(&issuer, &challenge, &extra)).await?;
        assert_eq!(page.status, 303, "{what}");
        assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_request"), "{what}");
        assert_eq!(page.redirect_param("state").as_deref(), Some("st-123"));
    }
    // No challenge at all: refused for this client (PKCE required by default).
    let url = authorize_url(
        &issuer,
        &[("response_type", "code"), ("client_id", "app"), ("redirect_uri", APP_REDIRECT), ("state", "s")],
    );
    let page = browser.get(&url).await?;
    assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_request"));

    // Wrong, missing and malformed verifiers.
    let (verifier, challenge) = pkce();
    for bad in [Some(pkce().0), None, Some("short".to_owned())] {
        let code = code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[])).await?;
        let mut form =
            vec![("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", APP_REDIRECT)];
        if let Some(v) = &bad {
            form.push(("code_verifier", v));
        }
        let (status, body) = exchange(&issuer, &secret, &form).await?;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{bad:?}");
    }
    let code = code_for(&issuer, &mut browser, &app_request(&issuer, &challenge, &[])).await?;
    assert_eq!(redeem(&issuer, &secret, &code, &verifier).await?.0, 200);

    // A confidential client allowed to skip PKCE: a verifier for a code without challenge is refused.
    let mut loose = web_client("loose", ClientType::Confidential, APP_REDIRECT, "openid")?;
    loose.sign_in.pkce_optional = true;
    loose.skip_consent = true;
    let loose = issuer.create_client(loose).await?;
    let url = authorize_url(
        &issuer,
        &[("response_type", "code"), ("client_id", "loose"), ("redirect_uri", APP_REDIRECT), ("scope", "openid")],
    );
    let page = browser.get(&url).await?;
    let code = page.redirect_param("code").expect("a code without PKCE");
    let response = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .basic_auth("loose", loose.client_secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    assert_eq!(response.status(), 400, "PKCE downgrade refused");
    issuer.stop().await
}

async fn redirect_uris_match_exactly_and_errors_never_go_elsewhere(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    let mut browser = HttpBrowser::new()?;
    let (_, challenge) = pkce();
    for evil in [
        "https://evil.example/callback",
        "https://app.example/callback/../evil",
        "https://app.example/callback?x=1",
        "https://app.example.evil.example/callback",
        "https://app.example/callback#frag",
        "https://APP.example/callback",
        "javascript:alert(1)",
    ] {
        let page = browser.get(&app_request(&issuer, &challenge, &[("redirect_uri", evil)])).await?;
        assert_eq!(page.status, 400, "{evil}");
        assert!(page.location().is_none(), "never redirected: {evil}");
        assert!(page.body.contains("redirect_uri is not registered"), "{evil}: {}", page.body);
    }
    // Unknown client, missing client: an error page too.
    for url in [
        app_request(&issuer, &challenge, &[("client_id", "nobody")]),
        authorize_url(&issuer, &[("response_type", "code")]),
    ] {
        let page = browser.get(&url).await?;
        assert!(page.status >= 400 && page.location().is_none(), "{url}: {}", page.status);
    }
    // Errors about everything else go back to the client, with state and iss.
    let page = browser.get(&app_request(&issuer, &challenge, &[("response_type", "token")])).await?;
    assert_eq!(page.redirect_param("error").as_deref(), Some("unsupported_response_type"));
    assert_eq!(page.redirect_param("iss").as_deref(), Some(issuer.base_url.as_str()));
    let page = browser.get(&app_request(&issuer, &challenge, &[("scope", "openid db:admin")])).await?;
    assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_scope"));

    // A loopback IP redirect URI accepts any port (RFC 8252 §7.3), but nothing else changes.
    issuer.create_client(web_client("native", ClientType::Public, "http://127.0.0.1/callback", "openid")?).await?;
    let native = |uri: &str| {
        authorize_url(
            &issuer,
            &[
                ("response_type", "code"),
                ("client_id", "native"),
                ("redirect_uri", uri),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("prompt", "none"),
            ],
        )
    };
    let page = browser.get(&native("http://127.0.0.1:49152/callback")).await?;
    assert_eq!(page.status, 303);
    assert!(
        page.location().unwrap().starts_with("http://127.0.0.1:49152/callback?error=login_required"),
        "{:?}",
        page.location()
    );
    for bad in
        ["http://127.0.0.1:49152/other", "http://localhost:49152/callback", "http://127.0.0.1.evil.example/callback"]
    {
        let page = browser.get(&native(bad)).await?;
        assert_eq!((page.status, page.location()), (400, None), "{bad}");
    }
    issuer.stop().await
}

async fn prompt_none_and_consent_decisions(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    let mut browser = HttpBrowser::new()?;
    let (_, challenge) = pkce();
    // No session and prompt=none: login_required, back to the client.
    let page = browser.get(&app_request(&issuer, &challenge, &[("prompt", "none")])).await?;
    assert_eq!(page.redirect_param("error").as_deref(), Some("login_required"));
    assert_eq!(page.redirect_param("state").as_deref(), Some("st-123"));
    // Sign in, then deny: access_denied.
    let first = browser.get(&app_request(&issuer, &challenge, &[])).await?;
    let signed_in = sign_in(&issuer, &mut browser, &first, PASSWORD).await?;
    let consent = browser.follow(&issuer.base_url, &signed_in).await?;
    let denied = decide(&issuer, &mut browser, &consent, "deny").await?;
    assert_eq!(denied.redirect_param("error").as_deref(), Some("access_denied"));
    // Signed in but no consent yet, prompt=none: consent_required.
    let page = browser.get(&app_request(&issuer, &challenge, &[("prompt", "none")])).await?;
    assert_eq!(page.redirect_param("error").as_deref(), Some("consent_required"));
    // prompt=login sends a signed-in person to the sign-in page again, once.
    let page = browser.get(&app_request(&issuer, &challenge, &[("prompt", "login")])).await?;
    assert!(page.location().unwrap().starts_with("/sign-in"));
    let signed_in = sign_in(&issuer, &mut browser, &page, PASSWORD).await?;
    let next = browser.follow(&issuer.base_url, &signed_in).await?;
    assert_eq!(next.status, 200, "on to consent, not back to sign-in: {:?}", next.location());
    // max_age older than the sign-in: sign in again.
    issuer.clock.advance(120);
    let page = browser.get(&app_request(&issuer, &challenge, &[("max_age", "60")])).await?;
    assert!(page.location().unwrap().starts_with("/sign-in"), "{:?}", page.location());
    let page = browser.get(&app_request(&issuer, &challenge, &[("max_age", "ten")])).await?;
    assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_request"));
    issuer.stop().await
}
