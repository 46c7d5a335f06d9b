//! The HTTP data API through `ward serve`: a gates-only node whose `[gate.http]` follows a
//! named PostgreSQL gate and a named Redis gate; curl as the client, and the audit lines and
//! metrics that one identity's HTTP requests leave beside its psql and redis-cli sessions.

use serde_json::Value;
use ward_testkit::gate::gate_db;
use ward_testkit::oidc::FakeIssuer;
use ward_testkit::redis::private_server;

use crate::gate::{serve, stop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ward_serve_runs_the_data_api_beside_the_gates_it_follows() {
    let db = gate_db().await.unwrap();
    let redis = tokio::task::spawn_blocking(private_server).await.unwrap().unwrap();
    redis.add_gate_account().unwrap();
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let free = || ward_testkit::pg::free_port().unwrap();
    let (ops, pg_port, redis_port, http_port) = (free(), free(), free(), free());
    let config = format!(
        r#"
issuer_enabled = false
listen = "127.0.0.1:{ops}"
[[trust]]
issuer = "{issuer}"
audiences = ["pg-gate"]
roles_claim = "https://gprxy.io/roles"

[[gate.postgres]]
name = "app"
listen = "127.0.0.1:{pg_port}"
upstream = {{ host = "127.0.0.1", port = {pg}, database = "app" }}
roles = [{{ role = "reader", account = "svc_reader" }}]
accounts.svc_reader = {{ password_env = "READER_PASSWORD" }}

[[gate.redis]]
name = "cache"
listen = "127.0.0.1:{redis_port}"
upstream = {{ host = "127.0.0.1", port = {upstream_redis} }}
roles = [{{ role = "reader", account = "svc_cache" }}]
accounts.svc_cache = {{ password = "cache-pw" }}

[gate.http]
listen = "127.0.0.1:{http_port}"
postgres = "app"
redis = "cache"
"#,
        issuer = issuer.url,
        pg = db.cluster.port,
        upstream_redis = redis.port,
    );
    let log_path = dir.path().join("ward.log");
    let env = [("READER_PASSWORD", "reader-secret"), ("WARD_LOG__FORMAT", "json")];
    let log = std::fs::File::create(&log_path).unwrap().into();
    let child = serve(dir.path(), &config, http_port, &env, log).await;

    let token = issuer
        .sign(&issuer.claims("bob", &["reader"], serde_json::json!({"scope": "database:read cache:read cache:write"})))
        .unwrap();
    let curl = |path: &str, body: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-H", &format!("Authorization: Bearer {token}"), "-H", "Content-Type: application/json"])
            .args(["-d", body, &format!("http://127.0.0.1:{http_port}{path}")])
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    let sql = r#"{"query": "select current_user as account, current_setting('app.user_id') as who"}"#;
    let rows = curl("/query", sql);
    assert_eq!(rows["rows"], serde_json::json!([{"account": "svc_reader", "who": "bob"}]), "{rows}");
    let set = curl("/command", r#"{"command": "SET", "args": ["seen", "yes"]}"#);
    assert_eq!(set["result"], "OK", "{set}");
    assert_eq!(redis.command(&[b"GET", b"u:bob:seen"]).unwrap(), b"$3\r\nyes\r\n");
    let refused = curl("/command", r#"{"command": "FLUSHALL"}"#);
    assert_eq!(refused["error"], "NOPERM");

    let metrics = reqwest::get(format!("http://127.0.0.1:{ops}/metrics")).await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"ward_http_requests_total{endpoint="query",outcome="ok"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"ward_http_requests_total{endpoint="command",outcome="error"} 1"#), "{metrics}");
    stop(child).await;
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("HTTP data API ready"), "{logs}");
    let audit: Vec<&str> = logs.lines().filter(|l| l.contains(r#"\"protocol\":\"http\""#)).collect();
    assert_eq!(audit.len(), 3, "one audit line per request: {logs}");
    assert!(audit[0].contains(r#"\"event\":\"statement\""#) && audit[0].contains(r#"\"account\":\"svc_reader\""#));
    assert!(audit[1].contains(r#"\"statement\":\"SET\""#) && !audit[1].contains("yes"), "no values: {}", audit[1]);
    assert!(!logs.contains(&token) && !logs.contains("reader-secret"), "no token or password in the logs");
}
