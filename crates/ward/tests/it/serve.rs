//! `ward serve` end to end: first start, a token over HTTP, a graceful stop, clean logs.

use std::process::Stdio;
use std::time::Duration;

use crate::{json, run_ok, ward};

#[tokio::test]
async fn first_start_issues_verifiable_tokens_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = ward_testkit::pg::free_port().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    // A data directory that already exists, readable by all.
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new().mode(0o755).create(dir.path().join("data")).unwrap();
    }
    let mut child = ward(&dir.path().join("data"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--issuer", &base])
        .env("WARD_LOG__LEVEL", "debug")
        .env("WARD_LOG__FORMAT", "json")
        // What Kubernetes defines for a Service named `ward`, and a stray variable.
        .env("WARD_SERVICE_HOST", "10.0.0.1")
        .env("WARD_SERVICE_PORT", "8080")
        .env("WARD_PORT", "tcp://10.0.0.1:8080")
        .env("WARD_PORT_8080_TCP_ADDR", "10.0.0.1")
        .env("WARD_STRAY", "stray-value-xyz")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "ward serve did not become healthy: {}", std::fs::read_to_string(&log_path).unwrap_or_default());

    // A fresh data dir: database and a key-encryption key readable only by its owner.
    let data = dir.path().join("data");
    assert!(data.join("ward.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(data.join("kek")).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700, "tightened");
        for file in ["ward.db", "ward.db-wal", "ward.db-shm"] {
            assert_eq!(std::fs::metadata(data.join(file)).unwrap().permissions().mode() & 0o777, 0o600, "{file}");
        }
    }

    // J1: an admin user whose generated password, with no terminal to show it on, is in a file
    // only the owner can read; and the ward-cli client.
    let password_file = data.join("initial-admin-password");
    let admin_password = std::fs::read_to_string(&password_file).unwrap().trim().to_owned();
    assert_eq!(admin_password.len(), 24);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&password_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(run_ok(ward(&data).args(["admin", "user", "show", "admin"])).contains("roles:     admin"));
    assert!(run_ok(ward(&data).args(["admin", "client", "show", "ward-cli"])).contains("type:           public"));

    // Administration works while the server runs, on the same database.
    run_ok(ward(&data).args(["admin", "scope", "create", "db:read"]));
    let created = json(&run_ok(
        ward(&data).args(["admin", "client", "create", "--name", "svc", "--id", "svc", "--scope", "db:read", "--json"]),
    ));
    let secret = created["client_secret"].as_str().unwrap().to_owned();

    // The README's curl, in Rust.
    let resp = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("svc", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let jwks: jsonwebtoken::jwk::JwkSet =
        http.get(format!("{base}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    validation.set_issuer(&[&base]);
    validation.set_audience(&["ward"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation).unwrap().claims;
    assert_eq!(claims["client_id"], "svc");

    // Failures that carry secrets, to prove none of it is logged.
    let _ = http
        .post(format!("{base}/oauth/token"))
        .basic_auth("svc", Some("wrong-secret-xyz"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    let _ = http
        .post(format!("{base}/oauth/introspect?token={token}"))
        .basic_auth("svc", Some(&secret))
        .form(&[("token", &token)])
        .send()
        .await;

    // SIGTERM: drain and exit 0.
    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(s) = child.try_wait().unwrap() {
            exited = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let exited = exited.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("ward serve did not stop on SIGTERM")
    });
    assert!(exited.success(), "{exited:?}");

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("\"target\":\"ward::access\""), "JSON access log expected: {logs}");
    assert!(logs.contains("client authentication failed"), "{logs}");
    for needle in [secret.as_str(), token.as_str(), "wrong-secret-xyz", token.split('.').nth(2).unwrap()] {
        assert!(!logs.contains(needle), "a secret reached the log: {needle:.12}…");
    }
    let kek = std::fs::read_to_string(data.join("kek")).unwrap();
    assert!(!logs.contains(kek.trim()));
    // One warning names the stray variable, not its value; Kubernetes' own go unmentioned.
    let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("name no setting")).collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(warnings[0].contains("WARD_STRAY") && !warnings[0].contains("stray-value-xyz"), "{}", warnings[0]);
    assert!(!warnings[0].contains("WARD_SERVICE_HOST") && !warnings[0].contains("WARD_PORT"), "{}", warnings[0]);
    assert!(logs.contains("tightened the data directory"), "{logs}");
    assert!(logs.contains("initial-admin-password") && !logs.contains(&admin_password), "never logged");
}
