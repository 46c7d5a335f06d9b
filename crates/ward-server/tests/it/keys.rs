//! Signing-key rotation and the JWKS.

use anyhow::Result;
use ward_core::SigningAlg;
use ward_testkit::{StoreBackend, TestIssuer};

use crate::{FORM, post_raw, verify_with_jwks};

ward_testkit::on_both_backends!(
    rotation_keeps_old_tokens_valid_until_they_expire,
    configured_algorithms_sign,
    rotation_reaches_other_nodes
);

async fn jwks_kids(issuer: &TestIssuer) -> Result<Vec<String>> {
    let resp = issuer.http.get(issuer.url("/.well-known/jwks.json")).send().await?;
    assert_eq!(resp.headers()["content-type"], "application/jwk-set+json");
    let jwks: serde_json::Value = resp.json().await?;
    for key in jwks["keys"].as_array().into_iter().flatten() {
        assert!(key.get("d").is_none() && key.get("p").is_none(), "no private parts in the JWKS");
        assert_eq!(key["use"], "sig");
    }
    Ok(jwks["keys"].as_array().into_iter().flatten().filter_map(|k| k["kid"].as_str().map(str::to_owned)).collect())
}

async fn rotation_keeps_old_tokens_valid_until_they_expire(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let app = issuer.confidential_client("app", "").await?;
    let old_kid = issuer.oauth.keyring().active().kid().to_owned();
    let old_token = issuer.access_token(&app).await?;

    let new_kid = issuer.oauth.rotate_signing_key(SigningAlg::ES256).await?;
    assert_ne!(new_kid, old_kid);
    assert_eq!(
        jwks_kids(&issuer).await?,
        [new_kid.clone(), old_kid.clone()],
        "active key first, old key still published"
    );
    let new_token = issuer.access_token(&app).await?;
    let (header, _) = verify_with_jwks(&issuer, &new_token).await?;
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    verify_with_jwks(&issuer, &old_token).await?;
    let introspected =
        post_raw(&issuer, "/oauth/introspect", FORM, format!("token={old_token}"), Some((&app.id, &app.secret)))
            .await?;
    assert_eq!(introspected.2["active"], true, "tokens of the retired key stay valid");

    // Once every token the old key signed has expired, it leaves the JWKS.
    issuer.clock.advance(900 + 61);
    issuer.oauth.reload_keys().await?;
    assert_eq!(jwks_kids(&issuer).await?, [new_kid]);
    issuer.stop().await
}

async fn configured_algorithms_sign(backend: StoreBackend) -> Result<()> {
    for (alg, expected) in
        [(SigningAlg::EdDSA, jsonwebtoken::Algorithm::EdDSA), (SigningAlg::RS256, jsonwebtoken::Algorithm::RS256)]
    {
        let issuer = TestIssuer::builder(backend).configure(move |c| c.tokens.signing_alg = alg).start().await?;
        let app = issuer.confidential_client("app", "").await?;
        let token = issuer.access_token(&app).await?;
        let (header, _) = verify_with_jwks(&issuer, &token).await?;
        assert_eq!(header.alg, expected);
        issuer.stop().await?;
    }
    Ok(())
}

async fn rotation_reaches_other_nodes(backend: StoreBackend) -> Result<()> {
    let a = TestIssuer::start(backend).await?;
    let b = TestIssuer::builder(backend).node_of(&a)?.start().await?;
    let app = a.confidential_client("app", "").await?;
    let new_kid = a.oauth.rotate_signing_key(SigningAlg::ES256).await?;
    let token = a.access_token(&app).await?;
    // b has not reloaded yet; an unknown kid makes it look again (rate-limited).
    b.clock.advance(ward_oauth::keys::MIN_FORCED_RELOAD_SECS);
    let (_, _, json) =
        post_raw(&b, "/oauth/introspect", FORM, format!("token={token}"), Some((&app.id, &app.secret))).await?;
    assert_eq!(json["active"], true);
    let (header, _) = verify_with_jwks(&a, &token).await?;
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert!(b.oauth.keyring().get(&new_kid).is_some(), "b: {:?} vs {new_kid}", b.oauth.keyring().active().kid());
    b.stop().await?;
    a.stop().await
}
