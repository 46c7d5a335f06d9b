//! Signing-key rotation and the JWKS: staged so that every node, and every resource server
//! that honours the JWKS `max-age`, holds a key before it signs; at once in an emergency, with
//! other nodes verifying the new key immediately.

use anyhow::Result;
use ward_core::{Clock as _, SigningAlg};
use ward_testkit::{StoreBackend, TestIssuer};

use crate::{FORM, post_raw, verify_with_jwks};

ward_testkit::on_both_backends!(
    a_staged_key_is_published_first_and_signs_later,
    configured_algorithms_sign,
    two_nodes_and_a_caching_resource_server_agree_throughout_a_rotation,
    an_emergency_rotation_is_verified_at_once_on_every_node,
);

/// The JWKS's key ids and its `max-age`.
async fn jwks(issuer: &TestIssuer) -> Result<(Vec<String>, i64)> {
    let resp = issuer.http.get(issuer.url("/.well-known/jwks.json")).send().await?;
    assert_eq!(resp.headers()["content-type"], "application/jwk-set+json");
    let cache = resp.headers()["cache-control"].to_str()?.to_owned();
    let max_age = cache.rsplit("max-age=").next().and_then(|s| s.parse().ok()).unwrap_or(-1);
    let jwks: serde_json::Value = resp.json().await?;
    for key in jwks["keys"].as_array().into_iter().flatten() {
        assert!(key.get("d").is_none() && key.get("p").is_none(), "no private parts in the JWKS");
        assert_eq!(key["use"], "sig");
    }
    let kids =
        jwks["keys"].as_array().into_iter().flatten().filter_map(|k| k["kid"].as_str().map(str::to_owned)).collect();
    Ok((kids, max_age))
}

fn kid_of(token: &str) -> Result<String> {
    Ok(jsonwebtoken::decode_header(token)?.kid.unwrap_or_default())
}

async fn introspect_active(issuer: &TestIssuer, client: &ward_testkit::TestClient, token: &str) -> Result<bool> {
    let (_, _, json) =
        post_raw(issuer, "/oauth/introspect", FORM, format!("token={token}"), Some((&client.id, &client.secret)))
            .await?;
    Ok(json["active"] == true)
}

async fn a_staged_key_is_published_first_and_signs_later(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let app = issuer.confidential_client("app", "").await?;
    let old_token = issuer.access_token(&app).await?;
    let old_kid = kid_of(&old_token)?;
    let (kids, max_age) = jwks(&issuer).await?;
    assert_eq!((kids, max_age), (vec![old_kid.clone()], 300), "half of the 10 min lead");

    let (new_kid, rotation) = issuer.oauth.rotate_signing_key(SigningAlg::ES256, false).await?;
    let start = issuer.clock.now();
    assert_eq!((rotation.published_from - start, rotation.active_from - start), (30, 600));
    assert_eq!(jwks(&issuer).await?.0, std::slice::from_ref(&old_kid), "not published before every node has read it");

    issuer.clock.advance(30);
    assert_eq!(jwks(&issuer).await?.0, [old_kid.clone(), new_kid.clone()], "published ahead, signing key first");
    assert_eq!(kid_of(&issuer.access_token(&app).await?)?, old_kid, "not signing yet");

    issuer.clock.advance(570);
    let new_token = issuer.access_token(&app).await?;
    assert_eq!(kid_of(&new_token)?, new_kid, "signing from active_from");
    assert_eq!(jwks(&issuer).await?.0, [new_kid.clone(), old_kid.clone()]);
    verify_with_jwks(&issuer, &new_token).await?;
    verify_with_jwks(&issuer, &old_token).await?;
    assert!(introspect_active(&issuer, &app, &old_token).await?, "tokens of the retired key stay valid");

    // Once every token the old key signed has expired, it leaves the JWKS.
    issuer.clock.advance(900 + 60);
    issuer.oauth.reload_keys().await?;
    assert_eq!(jwks(&issuer).await?.0, [new_kid]);
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

/// Two nodes on one database, each reloading keys on its own schedule, and a resource server
/// that caches the JWKS for exactly its `max-age`: from the rotation until the old key has
/// left, every 10 s, the nodes publish the same JWKS and sign with the same key, and the
/// resource server's cached copy holds the key of every new token.
async fn two_nodes_and_a_caching_resource_server_agree_throughout_a_rotation(backend: StoreBackend) -> Result<()> {
    let a = TestIssuer::start(backend).await?;
    let b = TestIssuer::builder(backend).node_of(&a)?.start().await?;
    let app = a.confidential_client("app", "").await?;
    let step = 10;
    let mut cached: Option<(Vec<String>, i64)> = None; // (kids, fetched at)
    let (_, rotation) = a.oauth.rotate_signing_key(SigningAlg::ES256, false).await?;
    let start = a.clock.now();
    let mut elapsed = 0;
    while start + elapsed < rotation.previous_published_until + 2 * step {
        // b reloads every 30 s, at its own phase.
        if elapsed % 30 == 20 {
            b.oauth.reload_keys().await?;
        }
        let (kids_a, max_age) = jwks(&a).await?;
        let (kids_b, _) = jwks(&b).await?;
        assert_eq!(kids_a, kids_b, "the nodes' JWKS differ {elapsed} s after the rotation");
        let (token_a, token_b) = (a.access_token(&app).await?, b.access_token(&app).await?);
        let kid = kid_of(&token_a)?;
        assert_eq!(kid, kid_of(&token_b)?, "the nodes sign with different keys at {elapsed} s");
        let now = a.clock.now();
        if cached.as_ref().is_none_or(|(_, at)| now - at >= max_age) {
            cached = Some((kids_a.clone(), now));
        }
        let (rs_kids, _) = cached.as_ref().map_or((Vec::new(), 0), |c| c.clone());
        assert!(rs_kids.contains(&kid), "the resource server's cached JWKS lacks the signing key at {elapsed} s");
        a.clock.advance(step);
        b.clock.advance(step);
        elapsed += step;
    }
    b.stop().await?;
    a.stop().await
}

/// `--now`: the other node has not reloaded, yet verifies the new key's tokens at once (it looks
/// the unknown kid up), and the first node verifies the tokens the other still signs with the
/// old key.
async fn an_emergency_rotation_is_verified_at_once_on_every_node(backend: StoreBackend) -> Result<()> {
    let a = TestIssuer::start(backend).await?;
    let b = TestIssuer::builder(backend).node_of(&a)?.start().await?;
    let app = a.confidential_client("app", "").await?;
    let (new_kid, rotation) = a.oauth.rotate_signing_key(SigningAlg::ES256, true).await?;
    assert_eq!(rotation.active_from, a.clock.now());
    for _ in 0..200 {
        let (from_a, from_b) = (a.access_token(&app).await?, b.access_token(&app).await?);
        assert_eq!(kid_of(&from_a)?, new_kid);
        assert!(introspect_active(&b, &app, &from_a).await?, "a's new-key token inactive at b");
        assert!(introspect_active(&a, &app, &from_b).await?, "b's token inactive at a");
    }
    assert!(b.oauth.keyring().get(&new_kid).is_some(), "b holds the new key");
    b.stop().await?;
    a.stop().await
}
