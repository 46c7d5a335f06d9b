//! J1: a fresh installation gets an `admin` user and the `ward-cli` client, once.

use anyhow::Result;
use ward_core::ClientType;
use ward_oauth::users::PasswordHashing;
use ward_server::first_start::{ADMIN_USER, CLI_CLIENT, provision};
use ward_store::{ClientStore, UserStore};
use ward_testkit::{StoreBackend, TestIssuer};

ward_testkit::on_both_backends!(the_first_start_provisions_once);

async fn the_first_start_provisions_once(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let store = issuer.oauth.store();
    let entropy = ward_token::OsEntropy;
    let given = "a long given admin password".to_owned();
    // Two nodes starting together on one database.
    let (a, b) = tokio::join!(
        provision(&issuer.config, store, &issuer.clock, &entropy, Some(given.clone())),
        provision(&issuer.config, store, &issuer.clock, &entropy, Some("another node's password".into())),
    );
    a?;
    b?;
    let users = store.list_users().await?;
    assert_eq!(users.len(), 1, "one admin, whoever won");
    let admin = &users[0];
    assert_eq!((admin.username.as_str(), admin.roles.as_slice()), (ADMIN_USER, [ADMIN_USER.to_owned()].as_slice()));
    let hash = admin.password_hash.clone().unwrap_or_default();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let hashing = PasswordHashing::default();
    assert!(hashing.verify(&given, &hash) || hashing.verify("another node's password", &hash));

    let cli = store.get_client(CLI_CLIENT).await?.expect("ward-cli registered");
    assert_eq!(cli.client_type, ClientType::Public);
    assert!(cli.secret_hash.is_none());

    // Later starts change nothing.
    provision(&issuer.config, store, &issuer.clock, &entropy, Some("yet another password".into())).await?;
    assert_eq!(store.list_users().await?[0].password_hash.as_deref(), Some(hash.as_str()));

    // The admin signs in with ward-cli as `ward login` will: PKCE, a loopback port of its choosing,
    // no consent page, no secret.
    let password = if hashing.verify(&given, &hash) { given } else { "another node's password".to_owned() };
    let (verifier, challenge) = ward_testkit::pkce();
    let redirect = "http://127.0.0.1:51723/callback";
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLI_CLIENT)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", "openid profile offline_access")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let mut browser = ward_testkit::HttpBrowser::new()?;
    let first = browser.get(&issuer.url(&format!("/oauth/authorize?{query}"))).await?;
    let page = browser.follow(&issuer.base_url, &first).await?;
    let (csrf, return_to) = (page.field("csrf")?, page.field("return_to")?);
    let form = [("csrf", csrf.as_str()), ("return_to", &return_to), ("username", ADMIN_USER), ("password", &password)];
    let signed_in = browser.post(&issuer.url("/sign-in"), &issuer.base_url, &form).await?;
    let back = browser.follow(&issuer.base_url, &signed_in).await?;
    assert!(back.location().unwrap_or_default().starts_with(redirect), "{:?}: {}", back.location(), back.body);
    let code = back.redirect_param("code").expect("a code");
    let tokens: serde_json::Value = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", CLI_CLIENT),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .json()
        .await?;
    let (_, claims) = crate::verify_with_jwks(&issuer, tokens["access_token"].as_str().unwrap_or_default()).await?;
    assert_eq!((claims["sub"].as_str(), claims["roles"].clone()), (Some(ADMIN_USER), serde_json::json!([ADMIN_USER])));
    assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string());
    issuer.stop().await
}
