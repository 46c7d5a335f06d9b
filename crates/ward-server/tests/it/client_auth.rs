//! Client authentication failures at the token endpoint.

use anyhow::Result;
use base64::Engine as _;
use ward_core::TokenEndpointAuthMethod;
use ward_testkit::{StoreBackend, TestClient, TestIssuer, confidential};

use crate::{FORM, post_raw};

ward_testkit::on_both_backends!(
    wrong_or_missing_credentials_get_401,
    client_secret_post_works_and_methods_are_not_mixed,
    rotated_secrets_and_deleted_clients_stop_working,
);

async fn wrong_or_missing_credentials_get_401(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let good = issuer.confidential_client("svc", "db:read").await?;
    let cases = [
        TestClient { id: "nobody".into(), secret: good.secret.clone() },
        TestClient { id: good.id.clone(), secret: "wrong".into() },
        TestClient { id: good.id.clone(), secret: String::new() },
        TestClient { id: "x".repeat(5000), secret: "y".into() },
    ];
    for client in &cases {
        let resp = issuer
            .http
            .post(issuer.url("/oauth/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?;
        assert_eq!(resp.status(), 401, "{:.20}", client.id);
        assert_eq!(resp.headers()["www-authenticate"], "Basic realm=\"ward\"");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body: serde_json::Value = resp.json().await?;
        assert_eq!(body["error"], "invalid_client");
        // Unknown client and wrong secret read the same.
        assert_eq!(body["error_description"], "client authentication failed");
    }
    // No credentials at all.
    let (status, headers, json) =
        post_raw(&issuer, "/oauth/token", FORM, "grant_type=client_credentials", None).await?;
    assert_eq!((status, json["error"].as_str()), (401, Some("invalid_client")));
    assert!(headers.contains_key("www-authenticate"));
    // Malformed Authorization headers.
    for header in ["Basic !!!notbase64", "Bearer abc", "Basic", "Basic Og=="] {
        let resp = issuer
            .http
            .post(issuer.url("/oauth/token"))
            .header("authorization", header)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await?;
        assert_eq!(resp.status(), 401, "{header}");
    }
    // RFC 6749 §2.3.1: id and secret are form-encoded inside Basic.
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", good.id, good.secret));
    let resp = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .header("authorization", format!("basic {encoded}"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await?;
    assert_eq!(resp.status(), 200, "scheme is case-insensitive");
    issuer.stop().await
}

async fn client_secret_post_works_and_methods_are_not_mixed(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let post = issuer
        .create_client(ward_oauth::admin::NewClient {
            auth_method: Some(TokenEndpointAuthMethod::ClientSecretPost),
            ..confidential("poster", "db:read")?
        })
        .await?;
    let secret = post.client_secret.unwrap_or_default();
    let body = format!("grant_type=client_credentials&client_id=poster&client_secret={secret}");
    let (status, _, json) = post_raw(&issuer, "/oauth/token", FORM, body.clone(), None).await?;
    assert_eq!(status, 200, "{json}");

    // Basic and post at once: RFC 6749 §2.3 forbids more than one method.
    let (status, _, json) = post_raw(&issuer, "/oauth/token", FORM, body, Some(("poster", &secret))).await?;
    assert_eq!((status, json["error"].as_str()), (400, Some("invalid_request")));

    // A client registered for post cannot use basic, even with the right secret.
    let (status, _, json) =
        post_raw(&issuer, "/oauth/token", FORM, "grant_type=client_credentials", Some(("poster", &secret))).await?;
    assert_eq!((status, json["error"].as_str()), (401, Some("invalid_client")));

    // And a basic client cannot use post.
    let basic = issuer.confidential_client("basic", "db:read").await?;
    let body = format!("grant_type=client_credentials&client_id=basic&client_secret={}", basic.secret);
    let (status, _, _) = post_raw(&issuer, "/oauth/token", FORM, body, None).await?;
    assert_eq!(status, 401);
    issuer.stop().await
}

async fn rotated_secrets_and_deleted_clients_stop_working(backend: StoreBackend) -> Result<()> {
    // No client cache: the change must be visible on the next request.
    let issuer = TestIssuer::builder(backend)
        .configure(|c| c.tokens.client_cache_ttl = std::time::Duration::ZERO)
        .start()
        .await?;
    let client = issuer.confidential_client("svc", "db:read").await?;
    issuer.access_token(&client).await?;
    let new_secret = issuer.admin().rotate_secret("svc").await?;
    let (status, _) = issuer.token(&client, &[("grant_type", "client_credentials")]).await?;
    assert_eq!(status, 401, "the old secret is dead");
    let rotated = TestClient { id: client.id.clone(), secret: new_secret };
    issuer.access_token(&rotated).await?;
    issuer.admin().delete_client("svc").await?;
    let (status, _) = issuer.token(&rotated, &[("grant_type", "client_credentials")]).await?;
    assert_eq!(status, 401);
    issuer.stop().await
}
