//! Identity reaches PostgreSQL: row-level security filters by the token's subject, tenant
//! and roles, through shared service accounts.

use crate::{psql, setup, sqlstate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_with_a_token_runs_as_the_mapped_account_with_identity_set() {
    let (issuer, gate) = setup().await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let (ok, out, err) = psql(
        &gate,
        "alice",
        &token,
        "select current_user, current_setting('app.user_id'), current_setting('app.tenant_id'), current_setting('app.roles'), current_setting('app.email'), current_setting('app.client_id'), \
         ward.user_id(), ward.tenant_id(), ward.roles(), ward.claim('email')",
    ).await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "svc_reader|alice|acme|{\"reader\"}|alice@example.com|test-app|alice|acme|{reader}|alice@example.com"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_on_one_account_see_their_own_rows() {
    let (issuer, gate) = setup().await;
    let alice = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let bob = gate.connect("bob", &issuer.token("bob", &["reader"]).unwrap()).await.unwrap();
    let titles = |rows: Vec<tokio_postgres::Row>| rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>();
    let a =
        titles(alice.query("select title from posts where title not like '%new%' order by title", &[]).await.unwrap());
    let b =
        titles(bob.query("select title from posts where title not like '%new%' order by title", &[]).await.unwrap());
    assert_eq!(a, ["alice 1", "alice 2"]);
    assert_eq!(b, ["bob 1"]);
    // Same service account underneath.
    let alice_account: String = alice.query_one("select current_user", &[]).await.unwrap().get(0);
    let bob_account: String = bob.query_one("select current_user", &[]).await.unwrap().get(0);
    assert_eq!(alice_account, bob_account);

    // An admin of the tenant sees everyone's posts in it, and no other tenant's.
    let admin = gate.connect("dana", &issuer.token("dana", &["admin"]).unwrap()).await.unwrap();
    let all =
        titles(admin.query("select title from posts where title not like '%new%' order by title", &[]).await.unwrap());
    assert_eq!(all, ["alice 1", "alice 2", "bob 1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_cannot_write_and_a_writer_writes_only_as_itself() {
    let (issuer, gate) = setup().await;
    let reader = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
    let err = reader
        .execute("insert into posts (tenant_id, owner_id, title) values ('acme', 'alice', 'nope')", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "permission denied");

    let writer = gate.connect("erin", &issuer.token("erin", &["writer", "reader"]).unwrap()).await.unwrap();
    let n = writer
        .execute("insert into posts (tenant_id, owner_id, title) values ('acme', 'erin', 'erin new')", &[])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let err = writer
        .execute("insert into posts (tenant_id, owner_id, title) values ('acme', 'alice', 'forged new')", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42501", "RLS refuses rows owned by someone else");
    assert_eq!(writer.query_one("select current_user", &[]).await.unwrap().get::<_, String>(0), "svc_writer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_values_are_parameters_not_sql() {
    let (issuer, gate) = crate::setup_with(|c| c.match_user = false).await;
    // A subject full of SQL: stored verbatim as a setting, never executed.
    let evil = "x'); drop table posts; --";
    let token = issuer.sign(&issuer.claims(evil, &["reader"], serde_json::json!({}))).unwrap();
    let client = gate.connect("evil", &token).await.unwrap();
    let row = client.query_one("select current_setting('app.user_id'), count(*) from posts", &[]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), evil);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_own_startup_parameters_apply_in_both_pool_modes() {
    for mode in [ward_config::gate::PoolMode::Session, ward_config::gate::PoolMode::Transaction] {
        let (issuer, gate) = crate::setup_with(move |c| c.pool_mode = mode).await;
        let token = issuer.token("alice", &["reader"]).unwrap();
        let mut cmd = std::process::Command::new("psql");
        cmd.arg(gate.conninfo("alice"))
            .args([
                "-X",
                "-A",
                "-t",
                "-c",
                "show client_encoding",
                "-c",
                "select current_setting('application_name'), current_setting('TimeZone'), current_setting('DateStyle'), current_setting('IntervalStyle'), current_setting('app.user_id'), ward.user_id()",
            ])
            .env("PGPASSWORD", &token)
            .env("PGCLIENTENCODING", "LATIN1")
            .env("PGAPPNAME", "reports")
            .env("PGTZ", "Asia/Tokyo")
            .env("PGDATESTYLE", "Postgres, MDY")
            // Settings in `options` apply too, except the identity's own: those are the gate's.
            .env("PGOPTIONS", "-c intervalstyle=postgres_verbose -c app.user_id=mallory -c WARD.identity=forged");
        let out = crate::run(cmd).await;
        assert!(out.status.success(), "{mode:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "LATIN1\nreports|Asia/Tokyo|Postgres, MDY|postgres_verbose|alice|alice",
            "{mode:?}"
        );
    }
}
