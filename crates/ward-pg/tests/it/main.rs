//! The PostgreSQL gate with real clients (psql, tokio-postgres, pgbench) in front of a real
//! PostgreSQL that demands SCRAM-SHA-256.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod auth;
mod grammar;
mod hostile;
mod oauthbearer;
mod pooling;
mod protocol;
mod release;
mod rls;
mod signed;
mod threads;
mod tls;
mod transaction;
mod upstream_tls;
mod wire;

use std::process::Command;

use ward_testkit::gate::{TestGate, gate_config, gate_db, trust_fake};
use ward_testkit::oidc::FakeIssuer;

/// A gate in front of the shared test database, trusting a fresh fake issuer.
pub async fn setup() -> (FakeIssuer, TestGate) {
    setup_with(|_| {}).await
}

pub async fn setup_with(edit: impl FnOnce(&mut ward_config::PostgresGateConfig)) -> (FakeIssuer, TestGate) {
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let db = gate_db().await.unwrap();
    let mut config = gate_config(db);
    edit(&mut config);
    let gate = TestGate::start(config, vec![trust_fake(&issuer)]).await.unwrap();
    (issuer, gate)
}

/// Runs psql through the gate; returns (success, stdout, stderr).
pub async fn psql(gate: &TestGate, user: &str, token: &str, sql: &str) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.arg(gate.conninfo(user))
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .env("PGPASSWORD", token)
        .env("PGCONNECT_TIMEOUT", "10");
    let out = run(cmd).await;
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs a client program off the async threads, so the gate keeps serving meanwhile.
pub async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("the client program runs")).await.unwrap()
}

/// The server's (or the gate's) message in a tokio-postgres error.
pub fn message(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map(|d| d.message().to_owned()).unwrap_or_else(|| e.to_string())
}

/// The SQLSTATE of a tokio-postgres error, from the server or the gate.
pub fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code().map(|c| c.code().to_owned()).unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

/// Starts `select pg_sleep(30)` on `client`, sends a CancelRequest through the gate, and
/// asserts the query ends at once with query_canceled (57014).
pub async fn assert_cancel_stops_a_sleep(client: tokio_postgres::Client, context: &str) {
    use std::time::{Duration, Instant};
    let cancel = client.cancel_token();
    let started = Instant::now();
    let sleeper = tokio::spawn(async move { client.query_one("select pg_sleep(30)", &[]).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let err = sleeper.await.unwrap().unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "query_canceled: {context}");
    assert!(started.elapsed() < Duration::from_secs(10), "{context}");
}
