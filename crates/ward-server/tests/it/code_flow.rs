//! People signing in: authorization code + PKCE through the sign-in and consent pages, ID
//! tokens, UserInfo, refresh rotation, and every way to get it wrong.

use anyhow::{Result, ensure};
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, Page, StoreBackend, TestIssuer, pkce, web_client};

use crate::verify_with_jwks;

ward_testkit::on_both_backends!(
    a_person_signs_in_consents_and_the_app_gets_tokens,
    refresh_tokens_rotate_and_a_late_reuse_revokes_the_grant,
    a_replayed_code_revokes_its_grant,
    pkce_is_required_and_checked,
    redirect_uris_match_exactly_and_errors_never_go_elsewhere,
    prompt_none_and_consent_decisions,
    forms_need_their_csrf_token_and_our_origin,
    sign_in_failures_are_generic_and_slow_down,
    a_disabled_user_loses_every_grant_at_once,
    pages_escape_what_clients_and_scopes_say,
    form_post_and_page_headers,
    pushed_authorization_requests,
    rp_initiated_logout,
    revoking_a_refresh_token_ends_its_grant,
    fixed_refresh_tokens_stay_the_same,
);

pub const PASSWORD: &str = "correct horse battery staple";
pub const APP_REDIRECT: &str = "https://app.example/callback";

/// A confidential web app `app` and a user `alice` (role `reader`).
async fn setup(backend: StoreBackend) -> Result<(TestIssuer, String)> {
    let issuer = TestIssuer::start(backend).await?;
    issuer.user("alice", PASSWORD, &["reader"]).await?;
    let created = issuer
        .create_client(web_client(
            "app",
            ClientType::Confidential,
            APP_REDIRECT,
            "openid profile email offline_access db:read",
        )?)
        .await?;
    let secret = created.client_secret.ok_or_else(|| anyhow::anyhow!("no secret"))?;
    Ok((issuer, secret))
}

fn authorize_url(issuer: &TestIssuer, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    issuer.url(&format!("/oauth/authorize?{}", query.finish()))
}

/// The usual request of client `app`, with PKCE; `extra` adds or overrides parameters.
fn app_request(issuer: &TestIssuer, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", APP_REDIRECT),
        ("scope", "openid profile email db:read"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        params.push((name, value));
    }
    authorize_url(issuer, &params)
}

/// Signs in on the page a redirect led to; returns the response to the sign-in POST.
async fn sign_in(issuer: &TestIssuer, browser: &mut HttpBrowser, to_sign_in: &Page, password: &str) -> Result<Page> {
    let page = browser.follow(&issuer.base_url, to_sign_in).await?;
    ensure!(page.status == 200, "sign-in page: {} {}", page.status, page.body);
    let form = [
        ("csrf", page.field("csrf")?),
        ("return_to", page.field("return_to")?),
        ("username", "alice".to_owned()),
        ("password", password.to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    browser.post(&issuer.url("/sign-in"), &issuer.base_url, &form).await
}

/// Approves (or denies) on a consent page.
async fn decide(issuer: &TestIssuer, browser: &mut HttpBrowser, consent: &Page, decision: &str) -> Result<Page> {
    ensure!(consent.status == 200 && consent.body.contains("Allow"), "not a consent page: {}", consent.body);
    let csrf = consent.field("csrf")?;
    let request = consent.field("request")?;
    browser
        .post(
            &issuer.url("/oauth/consent"),
            &issuer.base_url,
            &[("csrf", &csrf), ("request", &request), ("decision", decision)],
        )
        .await
}

/// From a fresh browser to the client's callback: sign in, consent, redirect. Returns the code.
async fn code_for(issuer: &TestIssuer, browser: &mut HttpBrowser, url: &str) -> Result<String> {
    let first = browser.get(url).await?;
    ensure!(first.status == 303, "authorize: {} {}", first.status, first.body);
    let mut page = first;
    if page.location().is_some_and(|l| l.starts_with("/sign-in")) {
        let signed_in = sign_in(issuer, browser, &page, PASSWORD).await?;
        ensure!(signed_in.status == 303, "sign-in: {} {}", signed_in.status, signed_in.body);
        page = browser.follow(&issuer.base_url, &signed_in).await?;
    }
    if page.status == 200 {
        page = decide(issuer, browser, &page, "approve").await?;
    }
    ensure!(page.status == 303, "expected the redirect to the client: {} {}", page.status, page.body);
    page.redirect_param("code").ok_or_else(|| anyhow::anyhow!("no code in {:?}", page.location()))
}

async fn exchange(issuer: &TestIssuer, secret: &str, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value)> {
    let response =
        issuer.http.post(issuer.url("/oauth/token")).basic_auth("app", Some(secret)).form(form).send().await?;
    Ok((response.status().as_u16(), response.json().await?))
}

async fn redeem(issuer: &TestIssuer, secret: &str, code: &str, verifier: &str) -> Result<(u16, serde_json::Value)> {
    exchange(
        issuer,
        secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", APP_REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn introspect_active(issuer: &TestIssuer, secret: &str, token: &str) -> Result<bool> {
    let response = issuer
        .http
        .post(issuer.url("/oauth/introspect"))
        .basic_auth("app", Some(secret))
        .form(&[("token", token)])
        .send()
        .await?;
    let body: serde_json::Value = response.json().await?;
    Ok(body["active"] == true)
}

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

/// Signs in and redeems a code; returns the token response.
async fn tokens(issuer: &TestIssuer, secret: &str, extra: &[(&str, &str)]) -> Result<serde_json::Value> {
    let mut browser = HttpBrowser::new()?;
    let (verifier, challenge) = pkce();
    let code = code_for(issuer, &mut browser, &app_request(issuer, &challenge, extra)).await?;
    let (status, tokens) = redeem(issuer, secret, &code, &verifier).await?;
    ensure!(status == 200, "{tokens}");
    Ok(tokens)
}

async fn refresh(
    issuer: &TestIssuer,
    secret: &str,
    token: &str,
    scope: Option<&str>,
) -> Result<(u16, serde_json::Value)> {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    exchange(issuer, secret, &form).await
}

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

async fn forms_need_their_csrf_token_and_our_origin(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    let mut browser = HttpBrowser::new()?;
    let page = browser.get(&issuer.url("/sign-in")).await?;
    let csrf = page.field("csrf")?;
    let sign_in = |csrf: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("username".into(), "alice".into()),
            ("password".into(), PASSWORD.into()),
        ]
    };
    for (form, origin, what) in [
        (sign_in(""), issuer.base_url.clone(), "no token"),
        (sign_in("forged"), issuer.base_url.clone(), "a wrong token"),
        (sign_in(&csrf), "https://evil.example".to_owned(), "another origin"),
    ] {
        let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let response = browser.post(&issuer.url("/sign-in"), &origin, &form).await?;
        assert_eq!(response.status, 403, "{what}");
        assert!(!browser.cookies.contains_key("ward_session"), "{what}: not signed in");
    }
    // Another browser's token does not fit this browser's cookie.
    let mut other = HttpBrowser::new()?;
    let others = other.get(&issuer.url("/sign-in")).await?.field("csrf")?;
    let form = sign_in(&others);
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(browser.post(&issuer.url("/sign-in"), &issuer.base_url, &form).await?.status, 403);

    // Consent and sign-out forms too.
    let (_, challenge) = pkce();
    let first = browser.get(&app_request(&issuer, &challenge, &[])).await?;
    let signed_in = self::sign_in(&issuer, &mut browser, &first, PASSWORD).await?;
    let consent = browser.follow(&issuer.base_url, &signed_in).await?;
    let request = consent.field("request")?;
    let forged = browser
        .post(&issuer.url("/oauth/consent"), &issuer.base_url, &[("request", &request), ("decision", "approve")])
        .await?;
    assert_eq!((forged.status, forged.location()), (403, None));
    let forged = browser.post(&issuer.url("/sign-out"), &issuer.base_url, &[("csrf", "x")]).await?;
    assert_eq!(forged.status, 403);
    assert!(browser.cookies.contains_key("ward_session"), "still signed in");
    issuer.stop().await
}

async fn sign_in_failures_are_generic_and_slow_down(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    issuer.user("bob", PASSWORD, &[]).await?;
    let attempt = |username: &'static str, password: &'static str| {
        let issuer = &issuer;
        async move {
            let mut browser = HttpBrowser::new()?;
            let page = browser.get(&issuer.url("/sign-in")).await?;
            let csrf = page.field("csrf")?;
            browser
                .post(
                    &issuer.url("/sign-in"),
                    &issuer.base_url,
                    &[("csrf", &csrf), ("username", username), ("password", password)],
                )
                .await
        }
    };
    // Unknown user and wrong password look the same.
    let unknown = attempt("mallory", "wrong password here").await?;
    let wrong = attempt("alice", "wrong password here").await?;
    assert_eq!((unknown.status, wrong.status), (401, 401));
    let message =
        |p: &Page| p.body.split("role=\"alert\"").nth(1).map(|s| s.split("</p>").next().unwrap_or_default().to_owned());
    assert_eq!(message(&unknown), message(&wrong));
    assert!(!wrong.body.contains("alice@example.com"));
    // After a few failures the account waits, even with the right password.
    attempt("alice", "wrong password here").await?;
    attempt("alice", "wrong password here").await?;
    let throttled = attempt("alice", PASSWORD).await?;
    assert_eq!(throttled.status, 429, "{}", throttled.body);
    assert!(throttled.headers.contains_key("retry-after"));
    // The address is throttled as well: bob, from the same address, waits too.
    assert_eq!(attempt("bob", PASSWORD).await?.status, 429);
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

async fn pages_escape_what_clients_and_scopes_say(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    issuer.admin().create_scope("x:evil", "<script>alert('scope')</script>").await?;
    let mut evil = web_client("evil", ClientType::Public, APP_REDIRECT, "openid x:evil")?;
    evil.name = "<img src=x onerror=alert(1)>\"'".into();
    issuer.create_client(evil).await?;
    let mut browser = HttpBrowser::new()?;
    let (_, challenge) = pkce();
    let url = authorize_url(
        &issuer,
        &[
            ("response_type", "code"),
            ("client_id", "evil"),
            ("redirect_uri", APP_REDIRECT),
            ("scope", "openid x:evil"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let first = browser.get(&url).await?;
    let signed_in = sign_in(&issuer, &mut browser, &first, PASSWORD).await?;
    let consent = browser.follow(&issuer.base_url, &signed_in).await?;
    assert_eq!(consent.status, 200);
    assert!(!consent.body.contains("<img src=x"), "client name escaped");
    assert!(!consent.body.contains("<script>alert"), "scope description escaped");
    assert!(consent.body.contains("&#60;img src=x onerror=alert(1)&#62;&#34;&#39;"), "{}", consent.body);
    issuer.stop().await
}

async fn form_post_and_page_headers(backend: StoreBackend) -> Result<()> {
    let (issuer, _) = setup(backend).await?;
    let mut browser = HttpBrowser::new()?;
    let page = browser.get(&issuer.url("/sign-in")).await?;
    let csp = page.headers["content-security-policy"].to_str()?.to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["x-frame-options"], "DENY");
    assert!(!page.body.contains("<script>"), "no inline script");

    let (_, challenge) = pkce();
    let first = browser.get(&app_request(&issuer, &challenge, &[("response_mode", "form_post")])).await?;
    let signed_in = sign_in(&issuer, &mut browser, &first, PASSWORD).await?;
    let consent = browser.follow(&issuer.base_url, &signed_in).await?;
    let reply = decide(&issuer, &mut browser, &consent, "approve").await?;
    assert_eq!(reply.status, 200, "form_post is a page, not a redirect");
    assert!(reply.body.contains(&format!("action=\"{APP_REDIRECT}\"")), "{}", reply.body);
    assert!(!reply.field("code")?.is_empty());
    assert_eq!(reply.field("state")?, "st-123");
    assert_eq!(reply.field("iss")?, issuer.base_url);
    assert!(reply.body.contains("<script src=\"/assets/form-post.js\"></script>"));
    let bad = browser.get(&app_request(&issuer, &challenge, &[("response_mode", "fragment")])).await?;
    assert_eq!(bad.redirect_param("error").as_deref(), Some("invalid_request"));
    issuer.stop().await
}

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
