//! Backend pooling in session mode: reuse without leaks, queueing, exhaustion, restarts,
//! cancellation, and pgbench.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use ward_testkit::gate::{GateDb, TestGate, gate_config, gate_db, trust_fake};
use ward_testkit::oidc::FakeIssuer;

use crate::{setup_with, sqlstate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_backend_carries_nothing_from_one_client_to_the_next() {
    let (issuer, gate) = setup_with(|c| c.pool_size = 1).await;
    let alice = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let pid: i32 = alice.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0);
    alice.batch_execute("set search_path to pg_catalog; select set_config('app.user_id', 'mallory', false); prepare leak as select 1").await.unwrap();
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;

    let bob = gate.connect("bob", &issuer.token("bob", &["reader"]).unwrap()).await.unwrap();
    let row = bob
        .query_one("select pg_backend_pid(), current_setting('app.user_id'), current_setting('search_path')", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), pid, "the same backend connection, reused");
    assert_eq!(row.get::<_, String>(1), "bob");
    assert_eq!(row.get::<_, String>(2), "\"$user\", public");
    let err = bob.batch_execute("execute leak").await.unwrap_err();
    assert_eq!(sqlstate(&err), "26000", "prepared statements do not survive the reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_transaction_does_not_hand_its_transaction_on() {
    let (issuer, gate) = setup_with(|c| c.pool_size = 1).await;
    let alice = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let pid: i32 = alice.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0);
    alice.batch_execute("begin; select 1").await.unwrap();
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bob = gate.connect("bob", &issuer.token("bob", &["reader"]).unwrap()).await.unwrap();
    let row = bob.query_one("select pg_backend_pid()", &[]).await.unwrap();
    assert_ne!(row.get::<_, i32>(0), pid, "a backend left in a transaction is closed, not reused");
    let (admin, conn) =
        tokio_postgres::connect(&gate_db().await.unwrap().superuser_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let open: i64 =
        admin.query_one("select count(*) from pg_stat_activity where pid = $1", &[&pid]).await.unwrap().get(0);
    assert_eq!(open, 0, "and its session is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_queues_then_refuses_with_53300() {
    let (issuer, gate) = setup_with(|c| {
        c.pool_size = 1;
        c.queue_timeout = Duration::from_millis(500);
    })
    .await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let holder = gate.connect("alice", &token).await.unwrap();
    let started = Instant::now();
    let err = gate.connect("alice", &token).await.unwrap_err();
    assert_eq!(sqlstate(&err), "53300");
    assert!(started.elapsed() >= Duration::from_millis(450), "it waited for the queue timeout first");

    // A waiter gets the connection as soon as the holder lets go.
    let waiter = {
        let (gate_addr, token) = (gate.conninfo("alice"), token.clone());
        tokio::spawn(async move {
            let (client, conn) =
                tokio_postgres::connect(&format!("{gate_addr} password={token}"), tokio_postgres::NoTls).await?;
            tokio::spawn(conn);
            client.query_one("select 1", &[]).await.map(|_| ())
        })
    };
    tokio::time::sleep(Duration::from_millis(150)).await;
    drop(holder);
    waiter.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_restart_is_survived() {
    let db = GateDb::create().await.unwrap();
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let mut transaction_mode = gate_config(&db);
    transaction_mode.pool_mode = ward_config::gate::PoolMode::Transaction;
    let gates = [
        TestGate::start(gate_config(&db), vec![trust_fake(&issuer)]).await.unwrap(),
        TestGate::start(transaction_mode, vec![trust_fake(&issuer)]).await.unwrap(),
    ];
    let token = issuer.token("alice", &["reader"]).unwrap();
    for gate in &gates {
        let client = gate.connect("alice", &token).await.unwrap();
        client.query_one("select 1", &[]).await.unwrap();
        drop(client);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for gate in &gates {
        assert_eq!(gate.gate.pools["svc_reader"].idle_count(), 1);
    }
    db.cluster.restart().unwrap();
    // Connections idle for more than HEALTH_CHECK_AFTER are probed before use.
    tokio::time::sleep(ward_pg::gate::pool::HEALTH_CHECK_AFTER).await;
    for gate in &gates {
        let client = gate.connect("alice", &token).await.expect("a dead pooled connection is replaced");
        let n: i64 =
            client.query_one("select count(*) from posts where title not like '%new%'", &[]).await.unwrap().get(0);
        assert_eq!(n, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_requests_reach_the_right_backend() {
    let (issuer, gate) = setup_with(|_| {}).await;
    let client = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    crate::assert_cancel_stops_a_sleep(client, "session pooling").await;
}

static PGBENCH_TABLES: OnceCell<()> = OnceCell::const_new();

/// pgbench's tables in the shared gate database, readable by the reader group.
pub async fn pgbench_tables() {
    let db = gate_db().await.unwrap();
    PGBENCH_TABLES
        .get_or_init(|| async {
            let mut init = Command::new("pgbench");
            init.args(["-i", "-s", "1", "-q", "--no-vacuum"]).arg(db.superuser_url());
            let init = crate::run(init).await;
            assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
            let mut grant = Command::new("psql");
            grant.arg(db.superuser_url()).args([
                "-X",
                "-c",
                "grant select on all tables in schema public to reader_group",
            ]);
            assert!(crate::run(grant).await.status.success());
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_through_the_gate() {
    pgbench_tables().await;
    let (issuer, gate) = setup_with(|_| {}).await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let mut bench = Command::new("pgbench");
    bench.args(["-n", "-S", "-c", "4", "-j", "2", "-t", "50"]).arg(gate.conninfo("alice")).env("PGPASSWORD", &token);
    let out = crate::run(bench).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("number of transactions actually processed: 200/200"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_clients_are_disconnected_in_every_mode() {
    for (mode, audit) in [
        (ward_config::gate::PoolMode::Session, false),
        (ward_config::gate::PoolMode::Session, true),
        (ward_config::gate::PoolMode::Transaction, false),
    ] {
        let (issuer, gate) = setup_with(move |c| {
            c.client_idle_timeout = Duration::from_millis(600);
            c.pool_mode = mode;
            c.audit_statements = audit;
        })
        .await;
        let client = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
        client.query_one("select 1", &[]).await.unwrap();
        // A query longer than the limit is not idleness: the server is the one working.
        client.query_one("select pg_sleep(1)", &[]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let err = client.query_one("select 1", &[]).await.unwrap_err();
        assert!(client.is_closed() || err.code().is_some(), "{mode:?} audit={audit}: {err}");
    }
}
