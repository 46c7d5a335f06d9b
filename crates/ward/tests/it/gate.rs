//! J6: a node that runs only a PostgreSQL gate, trusting another issuer (with its roles under
//! `https://gprxy.io/roles`), with no Ward issuer anywhere.

use std::process::Stdio;
use std::time::Duration;

use ward_testkit::gate::gate_db;
use ward_testkit::oidc::FakeIssuer;

use crate::ward;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gates_only_node_accepts_another_issuers_tokens() {
    // On the shared runtime, and on two threads of its own.
    for threads in [1, 2] {
        gates_only_node(threads).await;
    }
}

async fn gates_only_node(threads: usize) {
    let db = gate_db().await.unwrap();
    let issuer = FakeIssuer::start(ward_core::SigningAlg::RS256).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = ward_testkit::pg::free_port().unwrap();
    let ops_port = ward_testkit::pg::free_port().unwrap();
    let config = format!(
        r#"
issuer_enabled = false
listen = "127.0.0.1:{ops_port}"

[[trust]]
issuer = "{issuer}"
audiences = ["pg-gate"]
roles_claim = "https://gprxy.io/roles"
identity_claim = "email"

[[gate.postgres]]
listen = "127.0.0.1:{port}"
upstream = {{ host = "127.0.0.1", port = {pg}, database = "app" }}
pool_mode = "transaction"
threads = {threads}
audit_statements = true
roles = [{{ role = "writer", account = "svc_writer" }}, {{ role = "reader", account = "svc_reader" }}]
accounts.svc_writer = {{ password_env = "TEST_WRITER_PASSWORD" }}
accounts.svc_reader = {{ password = "reader-secret" }}
"#,
        issuer = issuer.url,
        pg = db.cluster.port,
    );
    let config_path = dir.path().join("ward.toml");
    std::fs::write(&config_path, config).unwrap();
    let log_path = dir.path().join("gate.log");
    let mut child = ward(&dir.path().join("data"))
        .arg("--config")
        .arg(&config_path)
        .arg("serve")
        .env("TEST_WRITER_PASSWORD", "writer-secret")
        .env("WARD_LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "gate did not start: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
    assert!(!dir.path().join("data/ward.db").exists(), "no issuer, so no database");

    let token = issuer.token("frank", &["writer"]).unwrap();
    let mut psql = std::process::Command::new("psql");
    psql.arg(format!("host=127.0.0.1 port={port} dbname=app user=frank@example.com sslmode=prefer"))
        .args([
            "-X",
            "-A",
            "-t",
            "-c",
            "select current_user, current_setting('app.user_id'), current_setting('app.roles')",
        ])
        .env("PGPASSWORD", &token);
    let out = tokio::task::spawn_blocking(move || psql.output().unwrap()).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "svc_writer|frank|writer");

    // A refused connection, then the metrics that count it.
    let mut refused = std::process::Command::new("psql");
    refused
        .arg(format!("host=127.0.0.1 port={port} dbname=app user=frank@example.com sslmode=disable"))
        .args(["-X", "-c", "select 1"])
        .env("PGPASSWORD", "not-a-token");
    let out = tokio::task::spawn_blocking(move || refused.output().unwrap()).await.unwrap();
    assert!(!out.status.success());
    let metrics = reqwest::get(format!("http://127.0.0.1:{ops_port}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"ward_pg_auth_failures_total{reason="malformed"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"ward_pg_sessions_total{account="svc_writer"} 1"#), "{metrics}");
    assert!(metrics.contains("ward_pg_pool_wait_seconds"), "{metrics}");
    let health = reqwest::get(format!("http://127.0.0.1:{ops_port}/health")).await.unwrap();
    assert_eq!(health.status(), 200);

    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains(r#"\"event\":\"connect\""#) && logs.contains(r#"\"account\":\"svc_writer\""#), "{logs}");
    assert!(logs.contains(r#"\"event\":\"disconnect\""#), "{logs}");
    assert!(logs.contains(r#"\"event\":\"statement\""#) && logs.contains(r#"\"rows\":1"#), "{logs}");
    assert!(logs.contains("select current_user, current_setting"), "statement text in the audit line: {logs}");
    assert!(!logs.contains(&token) && !logs.contains("writer-secret"), "no token or password in the logs");
}
