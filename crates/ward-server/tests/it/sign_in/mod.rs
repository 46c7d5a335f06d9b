//! People signing in: authorization code + PKCE through the sign-in and consent pages, ID
//! tokens, UserInfo, refresh rotation, PAR, logout, and every way to get them wrong. Each file
//! runs its tests on SQLite and on PostgreSQL; the helpers here play the browser and the app.

mod code;
mod pages;
mod par_and_logout;
mod refresh;

use anyhow::{Result, ensure};
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, Page, StoreBackend, TestIssuer, pkce, web_client};

pub const PASSWORD: &str = "correct horse battery staple";
pub const APP_REDIRECT: &str = "https://app.example/callback";

/// A confidential web app `app` and a user `alice` (role `reader`).
pub async fn setup(backend: StoreBackend) -> Result<(TestIssuer, String)> {
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

pub fn authorize_url(issuer: &TestIssuer, extra: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    issuer.url(&format!("/oauth/authorize?{}", query.finish()))
}

/// The usual request of client `app`, with PKCE; `extra` adds or overrides parameters.
pub fn app_request(issuer: &TestIssuer, challenge: &str, extra: &[(&str, &str)]) -> String {
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
pub async fn sign_in(
    issuer: &TestIssuer,
    browser: &mut HttpBrowser,
    to_sign_in: &Page,
    password: &str,
) -> Result<Page> {
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
pub async fn decide(issuer: &TestIssuer, browser: &mut HttpBrowser, consent: &Page, decision: &str) -> Result<Page> {
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
pub async fn code_for(issuer: &TestIssuer, browser: &mut HttpBrowser, url: &str) -> Result<String> {
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

pub async fn exchange(issuer: &TestIssuer, secret: &str, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value)> {
    let response =
        issuer.http.post(issuer.url("/oauth/token")).basic_auth("app", Some(secret)).form(form).send().await?;
    Ok((response.status().as_u16(), response.json().await?))
}

pub async fn redeem(issuer: &TestIssuer, secret: &str, code: &str, verifier: &str) -> Result<(u16, serde_json::Value)> {
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

pub async fn introspect_active(issuer: &TestIssuer, secret: &str, token: &str) -> Result<bool> {
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

/// Signs in and redeems a code; returns the token response.
pub async fn tokens(issuer: &TestIssuer, secret: &str, extra: &[(&str, &str)]) -> Result<serde_json::Value> {
    let mut browser = HttpBrowser::new()?;
    let (verifier, challenge) = pkce();
    let code = code_for(issuer, &mut browser, &app_request(issuer, &challenge, extra)).await?;
    let (status, tokens) = redeem(issuer, secret, &code, &verifier).await?;
    ensure!(status == 200, "{tokens}");
    Ok(tokens)
}

pub async fn refresh(
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
