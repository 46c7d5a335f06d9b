//! A stock OpenID Connect relying party — the `openidconnect` crate, with its defaults —
//! discovers Ward, runs code + PKCE, verifies the ID token (signature, nonce, at_hash) and
//! calls UserInfo. If Ward bent a rule, this library would say so.

use anyhow::Result;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse as _,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
};
use ward_core::ClientType;
use ward_testkit::{HttpBrowser, StoreBackend, TestIssuer, web_client};

use crate::sign_in::{APP_REDIRECT, PASSWORD};

ward_testkit::on_both_backends!(the_openidconnect_crate_signs_a_person_in);

/// The library's HTTP client, over this workspace's reqwest (its own pins an older one).
async fn http(request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let (parts, body) = request.into_parts();
    let response = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let mut out = http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(out.body(body).unwrap_or_default())
}

async fn the_openidconnect_crate_signs_a_person_in(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    issuer.user("alice", PASSWORD, &["reader"]).await?;
    let created =
        issuer.create_client(web_client("rp", ClientType::Confidential, APP_REDIRECT, "openid profile email")?).await?;

    let provider = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.base_url.clone())?, &http).await?;
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new("rp".into()),
        created.client_secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(APP_REDIRECT.into())?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    // The person: sign in and consent, as in the browser.
    let mut browser = HttpBrowser::new()?;
    let first = browser.get(url.as_str()).await?;
    let page = browser.follow(&issuer.base_url, &first).await?;
    let form = [
        ("csrf", page.field("csrf")?),
        ("return_to", page.field("return_to")?),
        ("username", "alice".into()),
        ("password", PASSWORD.into()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let signed_in = browser.post(&issuer.url("/sign-in"), &issuer.base_url, &form).await?;
    let consent = browser.follow(&issuer.base_url, &signed_in).await?;
    let (csrf, request) = (consent.field("csrf")?, consent.field("request")?);
    let back = browser
        .post(
            &issuer.url("/oauth/consent"),
            &issuer.base_url,
            &[("csrf", &csrf), ("request", &request), ("decision", "approve")],
        )
        .await?;
    assert_eq!(back.redirect_param("state").as_deref(), Some(state.secret().as_str()));
    let code = back.redirect_param("code").expect("a code");

    let tokens =
        client.exchange_code(AuthorizationCode::new(code))?.set_pkce_verifier(verifier).request_async(&http).await?;
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client.id_token_verifier();
    let claims = id_token.claims(&id_verifier, &nonce)?;
    assert_eq!(claims.subject().as_str(), "alice");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("alice@example.com"));
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg()?,
        id_token.signing_key(&id_verifier)?,
    )?;
    assert_eq!(&actual, expected);

    let info: CoreUserInfoClaims = client.user_info(tokens.access_token().clone(), None)?.request_async(&http).await?;
    assert_eq!(info.subject().as_str(), "alice");
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("alice"));
    issuer.stop().await
}
