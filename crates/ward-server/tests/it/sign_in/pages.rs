//! The pages themselves: CSRF and Origin, sign-in throttling, escaping, headers, form_post.

use anyhow::Result;
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, Page, StoreBackend, pkce, web_client};

use super::*;

ward_testkit::on_both_backends!(
    forms_need_their_csrf_token_and_our_origin,
    sign_in_failures_are_generic_and_slow_down,
    pages_escape_what_clients_and_scopes_say,
    form_post_and_page_headers,
);

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
