//! Transaction pooling: many clients on few backends, each with its own identity, its own
//! prepared statements, and none of the others' session state.

use std::process::Command;
use std::time::{Duration, Instant};

use ward_config::gate::PoolMode;

use crate::{run, setup_with, sqlstate};

fn transaction_mode(size: usize) -> impl FnOnce(&mut ward_config::PostgresGateConfig) {
    move |c| {
        c.pool_mode = PoolMode::Transaction;
        c.pool_size = size;
        c.queue_timeout = Duration::from_secs(5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_share_one_backend_each_with_its_own_identity() {
    let (issuer, gate) = setup_with(transaction_mode(1)).await;
    let alice = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let bob = gate.connect("bob", &issuer.token("bob", &["reader"]).unwrap()).await.unwrap();
    let mut pids = std::collections::HashSet::new();
    for _ in 0..5 {
        for (client, who, posts) in [(&alice, "alice", 2i64), (&bob, "bob", 1)] {
            let row = client
                .query_one(
                    "select pg_backend_pid(), current_setting('app.user_id'), (select count(*) from posts where title not like '%new%')",
                    &[],
                )
                .await
                .unwrap();
            pids.insert(row.get::<_, i32>(0));
            assert_eq!(row.get::<_, String>(1), who);
            assert_eq!(row.get::<_, i64>(2), posts, "{who} sees only their rows");
        }
    }
    assert_eq!(pids.len(), 1, "one backend served both clients");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_prepared_statements_follow_the_client_across_backends() {
    let (issuer, gate) = setup_with(transaction_mode(2)).await;
    let token = |who: &str| issuer.token(who, &["reader"]).unwrap();
    let (alice, bob, carol) = (
        gate.connect("alice", &token("alice")).await.unwrap(),
        gate.connect("bob", &token("bob")).await.unwrap(),
        gate.connect("carol", &token("carol")).await.unwrap(),
    );
    // tokio-postgres names statements s0, s1, … per connection: the same names, different SQL.
    let a = alice.prepare("select current_setting('app.user_id') || ':a'").await.unwrap();
    let b = bob.prepare("select current_setting('app.user_id') || ':b', $1::int").await.unwrap();
    let c = carol.prepare("select count(*) from posts where owner_id = $1").await.unwrap();
    for i in 0..20 {
        assert_eq!(alice.query_one(&a, &[]).await.unwrap().get::<_, String>(0), "alice:a");
        let row = bob.query_one(&b, &[&i]).await.unwrap();
        assert_eq!((row.get::<_, String>(0), row.get::<_, i32>(1)), ("bob:b".to_owned(), i));
        assert_eq!(carol.query_one(&c, &[&"carol"]).await.unwrap().get::<_, i64>(0), 0, "carol is in another tenant");
    }
    // Closing a statement and preparing another under the same name works too.
    drop(a);
    let a2 = alice.prepare("select 42").await.unwrap();
    assert_eq!(alice.query_one(&a2, &[]).await.unwrap().get::<_, i32>(0), 42);
    // A statement that fails to prepare reports the server's error, and the session goes on.
    let err = alice.prepare("select * from no_such_table").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    assert_eq!(alice.query_one(&a2, &[]).await.unwrap().get::<_, i32>(0), 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_session_state_reaches_the_next_client() {
    let (issuer, gate) = setup_with(transaction_mode(1)).await;
    let alice = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let bob = gate.connect("bob", &issuer.token("bob", &["reader"]).unwrap()).await.unwrap();
    alice
        .batch_execute("set search_path to pg_catalog; select set_config('app.user_id', 'mallory', false); set statement_timeout = 1234")
        .await
        .unwrap();
    let row = bob.query_one("select current_setting('search_path'), current_setting('app.user_id'), current_setting('statement_timeout')", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "\"$user\", public");
    assert_eq!(row.get::<_, String>(1), "bob");
    assert_eq!(row.get::<_, String>(2), "0");
    // alice's own identity is restored for her next transaction too.
    assert_eq!(
        alice.query_one("select current_setting('app.user_id')", &[]).await.unwrap().get::<_, String>(0),
        "alice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_keeps_its_backend_and_errors_do_not_stick() {
    let (issuer, gate) = setup_with(transaction_mode(1)).await;
    let writer = gate.connect("erin", &issuer.token("erin", &["writer"]).unwrap()).await.unwrap();
    // Another client on the same service account, so on the same one-connection pool.
    let reader = gate.connect("frank", &issuer.token("frank", &["writer"]).unwrap()).await.unwrap();
    writer
        .batch_execute("begin; insert into posts (tenant_id, owner_id, title) values ('acme', 'erin', 'tx new')")
        .await
        .unwrap();
    // The only backend is inside erin's transaction: frank waits for it.
    let started = Instant::now();
    let waiting = tokio::spawn(async move {
        reader.query_one("select current_setting('app.user_id')", &[]).await.map(|r| r.get::<_, String>(0))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished());
    let visible: i64 = writer.query_one("select count(*) from posts where title = 'tx new'", &[]).await.unwrap().get(0);
    assert_eq!(visible, 1);
    writer.batch_execute("rollback").await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), "frank");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let err = writer.query_one("select 1/0", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "22012");
    assert_eq!(
        writer.query_one("select current_setting('app.user_id')", &[]).await.unwrap().get::<_, String>(0),
        "erin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_the_backend_running_the_transaction() {
    let (issuer, gate) = setup_with(transaction_mode(2)).await;
    let client = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let cancel = client.cancel_token();
    let sleeper = tokio::spawn(async move { client.query_one("select pg_sleep(30)", &[]).await.map(|_| ()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    cancel.cancel_query(tokio_postgres::NoTls).await.unwrap();
    assert_eq!(sqlstate(&sleeper.await.unwrap().unwrap_err()), "57014");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_prepared_mode_runs_on_two_backends() {
    crate::pooling::pgbench_tables().await;
    let (issuer, gate) = setup_with(transaction_mode(2)).await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    for mode in ["simple", "extended", "prepared"] {
        let mut bench = Command::new("pgbench");
        bench
            .args(["-n", "-S", "-M", mode, "-c", "8", "-j", "2", "-t", "50"])
            .arg(gate.conninfo("alice"))
            .env("PGPASSWORD", &token);
        let out = run(bench).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{mode}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("number of transactions actually processed: 400/400"), "{mode}: {stdout}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_with_statement_audit_keeps_one_backend_and_pools_it_after() {
    let (issuer, gate) = setup_with(|c| {
        c.audit_statements = true;
        c.pool_size = 1;
    })
    .await;
    let alice = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let pid: i32 = alice.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0);
    let stmt = alice.prepare("select count(*) from posts where owner_id = $1").await.unwrap();
    assert_eq!(alice.query_one(&stmt, &[&"alice"]).await.unwrap().get::<_, i64>(0), 2);
    alice.batch_execute("set search_path to pg_catalog").await.unwrap();
    assert_eq!(
        alice.query_one("select pg_backend_pid()", &[]).await.unwrap().get::<_, i32>(0),
        pid,
        "one backend all session"
    );
    drop(alice);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let bob = gate.connect("bob", &issuer.token("bob", &["reader"]).unwrap()).await.unwrap();
    let row = bob
        .query_one("select pg_backend_pid(), current_setting('search_path'), current_setting('app.user_id')", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), pid, "pooled after a reset");
    assert_eq!(row.get::<_, String>(1), "\"$user\", public");
    assert_eq!(row.get::<_, String>(2), "bob");
}
