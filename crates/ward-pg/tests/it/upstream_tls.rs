//! TLS from the gate to PostgreSQL, with libpq's sslmode meanings.

use ward_config::gate::{PoolMode, UpstreamTls};
use ward_testkit::gate::{GateDb, TestGate, gate_config, trust_fake};
use ward_testkit::oidc::FakeIssuer;

use crate::{setup_with, sqlstate};

async fn backend_uses_tls(gate: &TestGate, issuer: &FakeIssuer) -> Result<bool, tokio_postgres::Error> {
    let client = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await?;
    let row = client.query_one("select ssl from pg_stat_ssl where pid = pg_backend_pid()", &[]).await?;
    Ok(row.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_and_prefer_encrypt_the_backend_connection() {
    let db = GateDb::create().await.unwrap();
    let ca = db.cluster.enable_tls().unwrap();
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    for (mode, ca_file) in
        [(UpstreamTls::VerifyFull, Some(ca.clone())), (UpstreamTls::Prefer, None), (UpstreamTls::Require, None)]
    {
        let mut config = gate_config(&db);
        config.upstream.tls = mode;
        config.upstream.ca_file = ca_file;
        let gate = TestGate::start(config, vec![trust_fake(&issuer)]).await.unwrap();
        assert!(backend_uses_tls(&gate, &issuer).await.unwrap(), "{mode:?}");
    }
    // verify-full against a CA that did not sign the server's certificate.
    let elsewhere = tempfile::tempdir().unwrap();
    let stranger = elsewhere.path().join("other.crt");
    std::fs::write(&stranger, rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap().cert.pem())
        .unwrap();
    let mut config = gate_config(&db);
    config.upstream.tls = UpstreamTls::VerifyFull;
    config.upstream.ca_file = Some(stranger);
    let gate = TestGate::start(config, vec![trust_fake(&issuer)]).await.unwrap();
    let err = backend_uses_tls(&gate, &issuer).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_refuses_a_server_without_tls_and_prefer_falls_back() {
    let (issuer, gate) = setup_with(|c| c.upstream.tls = UpstreamTls::Require).await;
    let err = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006");
    let (issuer, gate) = setup_with(|c| c.upstream.tls = UpstreamTls::Prefer).await;
    assert!(!backend_uses_tls(&gate, &issuer).await.unwrap(), "the shared test cluster has TLS off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_directory_reaches_postgres_over_its_unix_socket() {
    let db = ward_testkit::gate::gate_db().await.unwrap();
    let socket_dir = db.cluster.dir.to_string_lossy().into_owned();
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let (issuer, gate) = setup_with(|c| {
            c.upstream.host = socket_dir.clone();
            c.pool_mode = mode;
        })
        .await;
        let client = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
        // inet_server_addr() is NULL on a Unix-socket connection; the identity is set as over TCP.
        let row =
            client.query_one("select inet_server_addr()::text, current_setting('app.user_id')", &[]).await.unwrap();
        assert_eq!(row.get::<_, Option<String>>(0), None, "{mode:?}");
        assert_eq!(row.get::<_, String>(1), "alice", "{mode:?}");

        // A cancel is forwarded over the socket too.
        crate::assert_cancel_stops_a_sleep(client, &format!("{mode:?}")).await;
    }
    // A socket directory with no PostgreSQL in it: the client is told the database is away.
    let empty = tempfile::tempdir().unwrap();
    let (issuer, gate) = setup_with(|c| c.upstream.host = empty.path().to_string_lossy().into_owned()).await;
    let err = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap_err();
    assert_eq!(sqlstate(&err), "08006");
}
