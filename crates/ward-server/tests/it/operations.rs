//! Discovery, health, metrics, request ids, slow clients.

use std::time::Duration;

use anyhow::Result;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ward_testkit::{StoreBackend, TestIssuer};

ward_testkit::on_both_backends!(
    discovery_documents_advertise_what_is_implemented,
    health_reports_the_database,
    metrics_and_request_ids,
    slow_clients_are_cut_off,
    shutdown_drains_requests_in_flight,
);

async fn discovery_documents_advertise_what_is_implemented(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    issuer.confidential_client("app", "db:read db:write").await?;
    let mut documents = Vec::new();
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let doc: serde_json::Value = issuer.http.get(issuer.url(path)).send().await?.json().await?;
        assert_eq!(doc["issuer"], issuer.base_url.as_str(), "{path}");
        assert_eq!(doc["token_endpoint"], issuer.url("/oauth/token"));
        assert_eq!(doc["jwks_uri"], issuer.url("/.well-known/jwks.json"));
        assert_eq!(doc["introspection_endpoint"], issuer.url("/oauth/introspect"));
        assert_eq!(doc["revocation_endpoint"], issuer.url("/oauth/revoke"));
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "client_credentials",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
        );
        assert_eq!(
            doc["introspection_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt"])
        );
        assert_eq!(
            doc["scopes_supported"],
            serde_json::json!(["db:read", "db:write", "email", "offline_access", "openid", "profile"])
        );
        // OpenID Connect Discovery §3: the fields it requires, and what Ward chose.
        assert_eq!(doc["authorization_endpoint"], issuer.url("/oauth/authorize"));
        assert_eq!(doc["userinfo_endpoint"], issuer.url("/oauth/userinfo"));
        assert_eq!(doc["end_session_endpoint"], issuer.url("/oauth/logout"));
        assert_eq!(doc["pushed_authorization_request_endpoint"], issuer.url("/oauth/par"));
        assert_eq!(doc["device_authorization_endpoint"], issuer.url("/oauth/device_authorization"));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(doc["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(doc["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));
        assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["response_modes_supported"], serde_json::json!(["query", "form_post"]));
        // Every advertised endpoint answers.
        for key in [
            "token_endpoint",
            "introspection_endpoint",
            "revocation_endpoint",
            "pushed_authorization_request_endpoint",
            "userinfo_endpoint",
        ] {
            let url = doc[key].as_str().unwrap_or_default();
            let status = issuer.http.post(url).form(&[("x", "y")]).send().await?.status();
            assert_ne!(status, 404, "{key}");
        }
        for key in ["authorization_endpoint", "end_session_endpoint"] {
            let status = issuer.http.get(doc[key].as_str().unwrap_or_default()).send().await?.status();
            assert_ne!(status, 404, "{key}");
        }
        documents.push(doc);
    }
    assert_eq!(documents[0], documents[1], "one document at both paths");
    issuer.stop().await
}

async fn health_reports_the_database(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let resp = issuer.http.get(issuer.url("/health")).send().await?;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<serde_json::Value>().await?, serde_json::json!({"status": "ok", "database": "ok"}));
    // The database goes away: 503, and no detail about why.
    issuer.oauth.store().close().await;
    let resp = issuer.http.get(issuer.url("/health")).send().await?;
    assert_eq!(resp.status(), 503);
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["status"], "unavailable");
    issuer.stop().await
}

async fn metrics_and_request_ids(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let app = issuer.confidential_client("app", "").await?;
    issuer.access_token(&app).await?;
    let resp = issuer.http.get(issuer.url("/metrics")).header("x-request-id", "trace-me-123").send().await?;
    assert_eq!(resp.headers()["x-request-id"], "trace-me-123", "a sane incoming id is kept");
    let text = resp.text().await?;
    assert!(text.contains("ward_tokens_issued_total{grant_type=\"client_credentials\"}"), "{text}");
    assert!(text.contains("ward_http_requests_total"), "{text}");
    let resp = issuer.http.get(issuer.url("/health")).header("x-request-id", "bad id with spaces").send().await?;
    let id = resp.headers()["x-request-id"].to_str()?.to_owned();
    assert_eq!(id.len(), 16, "an unusable incoming id is replaced");
    issuer.stop().await
}

async fn slow_clients_are_cut_off(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::builder(backend)
        .configure(|c| c.http.header_read_timeout = Duration::from_millis(500))
        .start()
        .await?;
    let mut stream = tokio::net::TcpStream::connect(issuer.config.listen).await?;
    stream.write_all(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n").await?;
    // Never finish the headers: the server must hang up rather than wait forever.
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 5 s");
    // The server keeps serving others.
    assert_eq!(issuer.http.get(issuer.url("/health")).send().await?.status(), 200);
    issuer.stop().await
}

async fn shutdown_drains_requests_in_flight(backend: StoreBackend) -> Result<()> {
    use base64::Engine as _;
    let issuer = TestIssuer::start(backend).await?;
    let app = issuer.confidential_client("app", "").await?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", app.id, app.secret));
    let body = "grant_type=client_credentials";
    let (first, rest) = body.split_at(10);
    let mut stream = tokio::net::TcpStream::connect(issuer.config.listen).await?;
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Shut down while the request is half sent; it must still be answered.
    let addr = issuer.config.listen;
    let stopping = tokio::spawn(issuer.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no new connections once shutdown began");
    stream.write_all(rest.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut response)).await??;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("access_token"));
    stopping.await?
}
