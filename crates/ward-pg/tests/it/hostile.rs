//! An attacker with a valid token of its own, on the same service account and the same
//! backend as its victim (pool_size = 1), in both pool modes, tries by SQL, protocol
//! messages, ordering and disconnects to act as the victim or to leave state behind. After
//! every attack the attacker must still be only itself, and the victim must find a backend
//! carrying nothing of the attacker's.

use std::time::Duration;

use ward_config::gate::PoolMode;

use crate::setup_with;
use crate::wire::{Reply, Wire};

/// `set_config(text, text, boolean)`, by OID, for FunctionCall.
const SET_CONFIG_OID: u32 = 2078;

/// What the attacker runs on its turn: messages queued on its connection, and the number of
/// ReadyForQuery answers they bring. Each ends with a probe of who the attacker is.
fn attack(name: &str, w: &mut Wire) -> usize {
    const PROBE: &str = "SELECT 'probe', ward.user_id(), (SELECT count(*) FROM public.posts WHERE owner_id = 'alice')";
    const FORGE: &str = "INSERT INTO public.posts (tenant_id, owner_id, title) VALUES ('acme', 'alice', 'forged new')";
    match name {
        // The identity once travelled in the client's first transaction: these ended it.
        "rollback first" => w.query(&format!("ROLLBACK; {PROBE}")).query(&format!("ROLLBACK; {FORGE}")),
        "commit first" => w.query(&format!("COMMIT; {PROBE}")).query(&format!("COMMIT; {FORGE}")),
        "abort first" => w.query(&format!("ABORT; {PROBE}")),
        "pipelined simple queries" => w.query(&format!("SELECT 1/0; {PROBE}")).query(PROBE),
        "error mid-pipeline" => {
            w.parse("", "SELECT 1/0").bind_execute("", &[]).sync().parse("", PROBE).bind_execute("", &[]).sync()
        }
        "extended protocol without sync" => w
            .parse("", "SELECT 1/0")
            .bind_execute("", &[])
            .parse("", PROBE)
            .bind_execute("", &[])
            .sync()
            .parse("", PROBE)
            .bind_execute("", &[])
            .sync(),
        "function call" => w
            .function_call(SET_CONFIG_OID, &["app.user_id", "alice", "false"])
            .function_call(SET_CONFIG_OID, &["search_path", "pg_catalog", "false"])
            .function_call(SET_CONFIG_OID, &["ward.identity", "test1.00.{}", "false"])
            .query(PROBE),
        "do and dynamic sql" => w
            .query(
                "DO $$ BEGIN \
                   EXECUTE 'SE' || 'T search_path = pg_catalog, public'; \
                   EXECUTE 'SE' || 'T statement_timeout = 1234'; \
                   EXECUTE 'SE' || 'T ROLE writer_group'; \
                   EXECUTE format('CREATE %s TABLE posts (id int, tenant_id text, owner_id text, title text)', chr(84) || 'EMP'); \
                   EXECUTE 'INSERT INTO posts VALUES (1, ''acme'', ''alice'', ''planted'')'; \
                   EXECUTE 'SELECT pg_adv' || 'isory_lock(42)'; \
                   EXECUTE 'LIS' || 'TEN secrets'; \
                 END $$",
            )
            .query(PROBE),
        "unicode identifiers" => w
            .query(
                "SELECT U&\"set\\005fconfig\"('app.user_id', 'alice', false), \
                        U&\"set\\005fconfig\"('search_path', 'pg_catalog', false); \
                 CREATE TABLE U&\"pg\\005ftemp\".posts (id int, tenant_id text, owner_id text, title text); \
                 SELECT U&\"pg\\005fadvisory\\005flock\"(43)",
            )
            .query(PROBE),
        "comments inside keywords" => w
            .query("SET/**/search_path = pg_catalog; SET/**/app.user_id = 'alice'; RE/**/SET ALL")
            .query("SET/**/ROLE writer_group; SET/**/SESSION AUTHORIZATION svc_writer")
            .query(PROBE),
        "cursors, listeners, locks and prepared statements" => w
            .query("BEGIN; DECLARE held CURSOR WITH HOLD FOR SELECT title FROM posts; COMMIT")
            .query("LISTEN secrets; SELECT pg_advisory_lock(44)")
            .query("PREPARE steal AS SELECT current_setting('app.user_id', true), ward.user_id()")
            .query(PROBE),
        "forged settings" => w
            .query("SET app.user_id = 'alice'; SET app.roles = '{admin}'; SET ward.identity = 'test1.00.{\"user_id\":\"alice\"}'")
            .query(PROBE)
            .query(FORGE),
        other => panic!("no attack {other}"),
    };
    w.pending_readies()
}

const ATTACKS: &[&str] = &[
    "rollback first",
    "commit first",
    "abort first",
    "pipelined simple queries",
    "error mid-pipeline",
    "extended protocol without sync",
    "function call",
    "do and dynamic sql",
    "unicode identifiers",
    "comments inside keywords",
    "cursors, listeners, locks and prepared statements",
    "forged settings",
];

/// The attacker's probes must show the attacker (or nobody), never its victim's identity or
/// rows; no forged row may be written.
fn assert_attacker_is_itself(name: &str, replies: &[Reply]) {
    let probes: Vec<_> = replies
        .iter()
        .filter_map(|r| match r {
            Reply::Row(cols) if cols[0].as_deref() == Some("probe") => Some(cols.clone()),
            _ => None,
        })
        .collect();
    assert!(!probes.is_empty(), "{name}: no probe ran: {replies:?}");
    for probe in probes {
        // Its own, or none where it spoiled its own setting; never anyone else's.
        assert!(matches!(probe[1].as_deref(), Some("mallory") | None), "{name}: the attacker's identity: {replies:?}");
        assert_eq!(probe[2].as_deref(), Some("0"), "{name}: the attacker sees the victim's rows: {replies:?}");
    }
    assert!(
        !replies.iter().any(|r| matches!(r, Reply::Complete(tag) if tag.starts_with("INSERT"))),
        "{name}: a forged row was written: {replies:?}"
    );
}

/// Everything a session can change, as the victim finds it…
pub const VICTIM_STATE: &str = "SELECT ward.user_id(), current_setting('app.user_id', true), current_user, session_user, \
    current_setting('search_path'), current_setting('statement_timeout'), \
    (SELECT count(*) FROM pg_prepared_statements WHERE from_sql), (SELECT count(*) FROM pg_cursors), \
    (SELECT count(*) FROM pg_listening_channels()), \
    (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), \
    (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()), \
    (SELECT string_agg(title, ',' ORDER BY title) FROM posts WHERE title NOT LIKE '%new%')";

/// …and what it must find: alice, as herself, with defaults and nothing of anyone else's.
pub const VICTIM_CLEAN: &[&str] = &[
    "alice",
    "alice",
    "svc_writer",
    "svc_writer",
    "\"$user\", public",
    "0",
    "0",
    "0",
    "0",
    "0",
    "0",
    "alice 1,alice 2",
];

async fn assert_victim_is_clean(name: &str, victim: &mut Wire) {
    let rows = victim.rows(VICTIM_STATE).await;
    let got: Vec<String> = rows[0].iter().map(|c| c.clone().unwrap_or_else(|| "NULL".into())).collect();
    assert_eq!(got, VICTIM_CLEAN, "after {name}");
    let written = victim
        .rows(
            "BEGIN; INSERT INTO posts (tenant_id, owner_id, title) VALUES ('acme', 'alice', 'victim new') RETURNING owner_id; ROLLBACK",
        )
        .await;
    assert_eq!(written[0][0].as_deref(), Some("alice"), "after {name}");
}

fn one_backend(mode: PoolMode) -> impl FnOnce(&mut ward_config::PostgresGateConfig) {
    move |c| {
        c.pool_mode = mode;
        c.pool_size = 1;
        c.queue_timeout = Duration::from_secs(10);
    }
}

async fn no_forged_rows(gate: &ward_testkit::gate::TestGate) {
    let _ = gate;
    let db = ward_testkit::gate::gate_db().await.unwrap();
    let (client, connection) = tokio_postgres::connect(&db.superuser_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let forged: i64 = client
        .query_one("SELECT count(*) FROM posts WHERE title IN ('forged new', 'planted')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(forged, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_pooling_two_identities_alternating_on_one_backend() {
    let (issuer, gate) = setup_with(one_backend(PoolMode::Transaction)).await;
    let victim_token = issuer.token("alice", &["writer"]).unwrap();
    let attacker_token = issuer.token("mallory", &["writer"]).unwrap();
    let mut victim = Wire::login(gate.addr, "alice", &victim_token).await;
    let mut attacker = Wire::login(gate.addr, "mallory", &attacker_token).await;
    // Statements are named by content on the server; another identity must not see their text.
    victim.parse("secret", "SELECT 'alice-secret-statement'").sync().until_ready().await;
    let seen = attacker.rows("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%alice-secret%'").await;
    assert_eq!(seen[0][0].as_deref(), Some("0"), "the victim's statement text is visible to the attacker");
    for name in ATTACKS {
        // The victim goes first, so the backend holds its identity when the attacker's turn comes.
        victim.rows("SELECT 1").await;
        let readies = attack(name, &mut attacker);
        let replies = attacker.replies(readies).await;
        assert_attacker_is_itself(name, &replies);
        assert_victim_is_clean(name, &mut victim).await;
    }
    // Leaving mid-transaction, or mid-pipeline without Sync, hands nothing on either.
    attacker.query("BEGIN; SELECT set_config('app.user_id', 'alice', false), pg_advisory_lock(45)").until_ready().await;
    attacker.vanish().await;
    let mut attacker = Wire::login(gate.addr, "mallory", &attacker_token).await;
    attacker.parse("", "SELECT 1/0").bind_execute("", &[]).flush().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    attacker.vanish().await;
    assert_victim_is_clean("leaving mid-transaction", &mut victim).await;
    no_forged_rows(&gate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_pooling_hands_the_next_identity_a_clean_backend() {
    // A reset_query that resets nothing changes nothing: passing to another identity always
    // runs DISCARD ALL.
    for (audit_statements, reset_query) in [(false, "DISCARD ALL"), (true, "DISCARD ALL"), (false, "SELECT 1")] {
        let (issuer, gate) = setup_with(|c| {
            one_backend(PoolMode::Session)(c);
            c.audit_statements = audit_statements;
            c.reset_query = reset_query.into();
        })
        .await;
        let victim_token = issuer.token("alice", &["writer"]).unwrap();
        let attacker_token = issuer.token("mallory", &["writer"]).unwrap();
        for name in ATTACKS {
            let mut attacker = Wire::login(gate.addr, "mallory", &attacker_token).await;
            let readies = attack(name, &mut attacker);
            let replies = attacker.replies(readies).await;
            assert_attacker_is_itself(name, &replies);
            attacker.terminate().await;
            let mut victim = Wire::login(gate.addr, "alice", &victim_token).await;
            assert_victim_is_clean(name, &mut victim).await;
            victim.terminate().await;
        }
        no_forged_rows(&gate).await;
    }
}
