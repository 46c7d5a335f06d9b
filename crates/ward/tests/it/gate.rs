//! J6: a node that runs only a PostgreSQL gate, trusting another issuer (with its roles under
//! `https://gprxy.io/roles`), with no Ward issuer anywhere.

use std::process::{Child, Stdio};
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
    let log_path = dir.path().join("gate.log");
    let env = [("TEST_WRITER_PASSWORD", "writer-secret"), ("WARD_LOG__FORMAT", "json")];
    let child = serve(dir.path(), &config, port, &env, std::fs::File::create(&log_path).unwrap().into()).await;
    assert!(!dir.path().join("data/ward.db").exists(), "no issuer, so no database");

    let token = issuer.token("frank", &["writer"]).unwrap();
    let out =
        psql(format!("host=127.0.0.1 port={port} dbname=app user=frank@example.com sslmode=prefer"), &token, WHO).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "svc_writer|frank|{\"writer\"}");

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
    if threads == 1 {
        // Another person on frank's idle backend: one DISCARD ALL hand-over, counted.
        let token = issuer.token("grace", &["writer"]).unwrap();
        let conninfo = format!("host=127.0.0.1 port={port} dbname=app user=grace@example.com sslmode=prefer");
        let out = psql(conninfo, &token, "select current_setting('app.user_id')").await;
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "grace");
        let metrics = reqwest::get(format!("http://127.0.0.1:{ops_port}/metrics")).await.unwrap().text().await.unwrap();
        let reset = r#"ward_pg_backend_resets_total{account="svc_writer",previous="another_identity"} 1"#;
        assert!(metrics.contains(reset), "{metrics}");
    }
    let health = reqwest::get(format!("http://127.0.0.1:{ops_port}/health")).await.unwrap();
    assert_eq!(health.status(), 200);

    stop(child).await;
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains(r#"\"event\":\"connect\""#) && logs.contains(r#"\"account\":\"svc_writer\""#), "{logs}");
    assert!(logs.contains(r#"\"event\":\"disconnect\""#), "{logs}");
    assert!(logs.contains(r#"\"event\":\"statement\""#) && logs.contains(r#"\"rows\":1"#), "{logs}");
    assert!(logs.contains("select current_user, current_setting"), "statement text in the audit line: {logs}");
    assert!(!logs.contains(&token) && !logs.contains("writer-secret"), "no token or password in the logs");
}

/// One `ward serve` that is both the issuer and a gate trusting it: a client registered with
/// `--role reader` reaches PostgreSQL as the reader account, with its id as the identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ward_client_credentials_token_reaches_postgres_as_its_role() {
    let db = gate_db().await.unwrap();
    let node = crate::Node::new();
    let config = format!(
        r#"{head}
[[gate.postgres]]
listen = "127.0.0.1:{port}"
upstream = {{ host = "127.0.0.1", port = {pg}, database = "app" }}
pool_mode = "transaction"
roles = [{{ role = "writer", account = "svc_writer" }}, {{ role = "reader", account = "svc_reader" }}]
accounts.svc_writer = {{ password = "writer-secret" }}
accounts.svc_reader = {{ password = "reader-secret" }}
"#,
        head = node.config_head(""),
        port = node.port,
        pg = db.cluster.port,
    );
    let child = serve(node.dir.path(), &config, node.port, &[], Stdio::null()).await;
    let created = crate::json(&node.admin(&[
        "client",
        "create",
        "--name",
        "Reporting",
        "--id",
        "reporting",
        "--role",
        "reader",
        "--tenant",
        "acme",
        "--json",
    ]));
    assert_eq!(created["roles"], serde_json::json!(["reader"]));
    let token = node.client_credentials("reporting", created["client_secret"].as_str().unwrap()).await;

    let conninfo = format!("host=127.0.0.1 port={} dbname=app user=reporting sslmode=disable", node.port);
    let out = psql(conninfo, &token, WHO).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "svc_reader|reporting|{\"reader\"}");
    stop(child).await;
}

/// Who the gate says the caller is.
const WHO: &str = "select current_user, current_setting('app.user_id'), current_setting('app.roles')";

/// psql `-X -A -t -c sql` with `token` as the password.
async fn psql(conninfo: String, token: &str, sql: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new("psql");
    cmd.arg(conninfo).args(["-X", "-A", "-t", "-c", sql]).env("PGPASSWORD", token);
    tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap()
}

/// `ward serve` with `config` (written into `dir`), returned once `port` accepts connections.
pub(crate) async fn serve(
    dir: &std::path::Path,
    config: &str,
    port: u16,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> Child {
    let config_path = dir.join("ward.toml");
    std::fs::write(&config_path, config).unwrap();
    let mut cmd = ward(&dir.join("data"));
    cmd.arg("--config").arg(&config_path).arg("serve").stdout(Stdio::null()).stderr(stderr);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the gate did not start listening on {port}");
}

/// SIGTERM, then wait for the process to end.
pub(crate) async fn stop(mut child: Child) {
    let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
}

/// Resident and peak memory of a process, in bytes, from /proc.
fn memory_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_messages_pass_through_transaction_pooling_without_being_held() {
    let db = gate_db().await.unwrap();
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = ward_testkit::pg::free_port().unwrap();
    let config = format!(
        r#"
issuer_enabled = false
listen = "127.0.0.1:{ops}"
[[trust]]
issuer = "{issuer}"
audiences = ["pg-gate"]
roles_claim = "https://gprxy.io/roles"
[[gate.postgres]]
listen = "127.0.0.1:{port}"
upstream = {{ host = "127.0.0.1", port = {pg}, database = "app" }}
pool_mode = "transaction"
audit_statements = true
roles = [{{ role = "reader", account = "svc_reader" }}]
accounts.svc_reader = {{ password = "reader-secret" }}
"#,
        ops = ward_testkit::pg::free_port().unwrap(),
        issuer = issuer.url,
        pg = db.cluster.port,
    );
    let child = serve(dir.path(), &config, port, &[], Stdio::null()).await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let conninfo = format!("host=127.0.0.1 port={port} dbname=app user=alice password={token} sslmode=disable");
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(&conninfo, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    };
    // Warm up: a pool connection and the first allocations.
    connect().await.query_one("select 1", &[]).await.unwrap();
    let (before, _) = memory_of(child.id());

    const BIG: usize = 60 << 20;
    let mut clients = Vec::new();
    for kind in 0..3 {
        let client = connect().await;
        clients.push(tokio::spawn(async move {
            match kind {
                // A simple query, a bound parameter (a renamed prepared statement), a result row.
                0 => {
                    let sql = format!("select length('{}')", "q".repeat(BIG));
                    let rows = client.simple_query(&sql).await.unwrap();
                    assert!(rows.iter().any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some(&BIG.to_string()[..]))));
                }
                1 => {
                    let value = "b".repeat(BIG);
                    let n: i32 = client.query_one("select length($1::text)", &[&value]).await.unwrap().get(0);
                    assert_eq!(n as usize, BIG);
                }
                _ => {
                    let row = client.query_one("select repeat('r', $1)", &[&(BIG as i32)]).await.unwrap();
                    assert_eq!(row.get::<_, String>(0).len(), BIG);
                }
            }
            // And the session goes on.
            client.query_one("select 1", &[]).await.unwrap();
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let (_, peak) = memory_of(child.id());
    eprintln!("three 60 MiB messages: the gate's peak memory rose {} KiB", (peak - before) >> 10);
    assert!(
        peak < before + (32 << 20),
        "three 60 MiB messages raised the gate's peak memory by {} MiB",
        (peak - before) >> 20
    );

    // Above max_message_size (64 MiB by default): SQLSTATE 54000, and the gate lives on.
    let client = connect().await;
    let err = client.query_one("select length($1::text)", &[&"x".repeat(65 << 20)]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("54000"), "{err}");
    connect().await.query_one("select 1", &[]).await.unwrap();

    stop(child).await;
}
