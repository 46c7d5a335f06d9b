//! J4: a stock libpq 18 client connects with `oauth_issuer` / `oauth_client_id`; the gate
//! answers OAUTHBEARER, libpq discovers the issuer and completes the exchange.

use std::process::Command;

use ward_config::gate::ClientAuth;

use crate::{run, setup_with};

async fn libpq(conninfo: &str, token: &str, sql: &str) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/libpq_oauth.py");
    let mut cmd = Command::new("python3");
    // An http:// issuer is only accepted by libpq in its debug mode; real issuers use https.
    cmd.arg(script).arg(conninfo).arg(sql).env("TOKEN", token).env("PGOAUTHDEBUG", "UNSAFE");
    let out = run(cmd).await;
    assert!(
        out.status.success(),
        "python3 with psycopg[binary] must be installed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libpq_18_completes_the_oauthbearer_exchange() {
    let (issuer, gate) = setup_with(|c| c.auth = ClientAuth::Oauthbearer).await;
    let conninfo = |user: &str| format!("{} oauth_issuer={} oauth_client_id=ward-cli", gate.conninfo(user), issuer.url);

    let token = issuer.token("alice", &["reader"]).unwrap();
    let answer = libpq(&conninfo("alice"), &token, "select current_user, current_setting('app.user_id')").await;
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["row"], serde_json::json!(["svc_reader", "alice"]));
    assert!(answer["libpq"].as_i64().unwrap_or(0) >= 180_000, "{answer}");
    assert_eq!(
        answer["openid_configuration"],
        format!("{}/.well-known/openid-configuration", issuer.url),
        "discovery came from the gate"
    );

    // A bad token fails the exchange with the gate's refusal.
    let answer = libpq(&conninfo("alice"), "not-a-token", "select 1").await;
    assert_eq!(answer["ok"], false, "{answer}");
}
