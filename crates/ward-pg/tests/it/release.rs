//! Every way a backend goes back: clients that vanish mid-pipeline, mid-COPY, mid-query or
//! with an error pending lose no pool slot; statements that must run first or alone work
//! in every mode; identity holds for the whole session.

use std::process::Command;
use std::time::Duration;

use ward_config::gate::PoolMode;
use ward_testkit::gate::gate_db;

use crate::setup_with;
use crate::wire::Wire;

const MODES: &[(PoolMode, bool)] =
    &[(PoolMode::Session, false), (PoolMode::Session, true), (PoolMode::Transaction, false)];

/// A table the writer account owns, for what needs ownership (VACUUM, CREATE INDEX).
async fn writer_owned_table() {
    static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    ONCE.get_or_init(create_writer_owned_table).await;
}

async fn create_writer_owned_table() {
    let db = gate_db().await.unwrap();
    let (admin, connection) = tokio_postgres::connect(&db.superuser_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(
            "CREATE SCHEMA IF NOT EXISTS alone AUTHORIZATION svc_writer; \
             CREATE TABLE IF NOT EXISTS alone.t (id int); ALTER TABLE alone.t OWNER TO svc_writer; \
             INSERT INTO alone.t SELECT generate_series(1, 100) WHERE NOT EXISTS (SELECT 1 FROM alone.t)",
        )
        .await
        .unwrap();
}

/// A way of leaving a backend behind: what the client sends before it vanishes.
type Abandon = (&'static str, fn(&mut Wire));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_vanish_midway_lose_no_pool_slot() {
    for &(mode, audit) in MODES {
        let (issuer, gate) = setup_with(|c| {
            c.pool_mode = mode;
            c.audit_statements = audit;
            c.pool_size = 2;
            c.queue_timeout = Duration::from_secs(3);
            c.reset_timeout = Duration::from_secs(1);
        })
        .await;
        let token = issuer.token("erin", &["writer"]).unwrap();
        let context = format!("{mode:?}, audit {audit}");
        let abandon: [Abandon; 4] = [
            ("a failing Parse without Sync", |w| {
                w.parse("", "select * from no_such_table").bind_execute("", &[]);
            }),
            ("an error, then more without Sync", |w| {
                w.parse("", "select 1/0").bind_execute("", &[]).parse("", "select 1").bind_execute("", &[]);
            }),
            ("mid-COPY", |w| {
                w.query("COPY posts (tenant_id, owner_id, title) FROM STDIN");
            }),
            ("a long query without Sync", |w| {
                w.parse("", "select pg_sleep(30)").bind_execute("", &[]);
            }),
        ];
        for (what, send) in abandon {
            // pool_size clients abandon their backends the same way...
            for _ in 0..2 {
                let mut w = Wire::login(gate.addr, "erin", &token).await;
                send(&mut w);
                w.flush().await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                w.vanish().await;
            }
            // ...and a normal client still gets one, well within the queue timeout.
            let ok = tokio::time::timeout(Duration::from_secs(3), async {
                let client = gate.connect("erin", &token).await.unwrap();
                client.query_one("select ward.user_id()", &[]).await.unwrap().get::<_, String>(0)
            })
            .await;
            assert_eq!(ok.as_deref().ok(), Some("erin"), "{context}: after {what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_must_run_first_or_alone_work_in_every_mode() {
    writer_owned_table().await;
    for &(mode, audit) in MODES {
        let (issuer, gate) = setup_with(|c| {
            c.pool_mode = mode;
            c.audit_statements = audit;
        })
        .await;
        let context = format!("{mode:?}, audit {audit}");
        let mut client = gate.connect("erin", &issuer.token("erin", &["writer"]).unwrap()).await.unwrap();
        client.batch_execute("VACUUM alone.t").await.unwrap_or_else(|e| panic!("{context}: {e:?}"));
        client
            .batch_execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON alone.t (id)")
            .await
            .unwrap_or_else(|e| panic!("{context}: {e:?}"));
        client.batch_execute("DROP INDEX CONCURRENTLY alone.t_id").await.unwrap_or_else(|e| panic!("{context}: {e:?}"));
        let level = "select current_setting('transaction_isolation'), ward.user_id()";
        let row = client
            .simple_query(&format!("BEGIN ISOLATION LEVEL SERIALIZABLE; {level}; COMMIT"))
            .await
            .unwrap_or_else(|e| panic!("{context}: {e:?}"));
        let values = row
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => {
                    Some((r.get(0).map(str::to_owned), r.get(1).map(str::to_owned)))
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(values, (Some("serializable".into()), Some("erin".into())), "{context}");
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .start()
            .await
            .unwrap_or_else(|e| panic!("{context}: {e:?}"));
        assert_eq!(tx.query_one(level, &[]).await.unwrap().get::<_, String>(0), "repeatable read", "{context}");
        tx.commit().await.unwrap();
        client.batch_execute("BEGIN").await.unwrap();
        client
            .batch_execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            .await
            .unwrap_or_else(|e| panic!("{context}: {e:?}"));
        client.batch_execute("COMMIT").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psycopg_and_asyncpg_serializable_transactions_in_transaction_pooling() {
    writer_owned_table().await;
    let (issuer, gate) = setup_with(|c| {
        c.pool_mode = PoolMode::Transaction;
        c.pool_size = 2;
    })
    .await;
    let token = issuer.token("alice", &["writer"]).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/drivers_serializable.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(gate.conninfo("alice")).arg("90").env("PGPASSWORD", &token);
    let out = crate::run(cmd).await;
    assert!(out.status.success(), "python3 with psycopg and asyncpg: {}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for driver in ["psycopg", "asyncpg"] {
        assert_eq!(result[driver]["ok"], 90, "{driver}: {}", result[driver]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_survives_a_failed_first_statement_in_every_mode() {
    for &(mode, audit) in MODES {
        let (issuer, gate) = setup_with(|c| {
            c.pool_mode = mode;
            c.audit_statements = audit;
        })
        .await;
        let client = gate.connect("alice", &issuer.token("alice", &["reader"]).unwrap()).await.unwrap();
        assert!(client.batch_execute("select 1/0").await.is_err());
        let row = client.query_one("select ward.user_id(), current_setting('app.user_id')", &[]).await.unwrap();
        assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("alice"), "{mode:?}, audit {audit}");
        assert_eq!(row.get::<_, String>(1), "alice", "{mode:?}, audit {audit}");
    }
}
