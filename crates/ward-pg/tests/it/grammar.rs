//! Generated attacks: random message sequences from a grammar of what a hostile session can
//! send (settings, roles, transactions left open, temp objects, locks, listeners, cursors,
//! prepared statements by SQL and by protocol, FunctionCall, errors, missing Syncs, abrupt
//! disconnects), thousands of runs, on the one backend its victim uses. After every run
//! the victim must see exactly itself and nothing the attacker left. Seeded: a failure
//! names the seed and the sequence that led to it.

use std::time::Duration;

use ward_config::gate::PoolMode;

use crate::hostile::{VICTIM_CLEAN, VICTIM_STATE};
use crate::setup_with;
use crate::wire::{Reply, Wire};

/// A small deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const STATEMENTS: &[&str] = &[
    "SET app.user_id = 'alice'",
    "SET app.roles = '{admin}'",
    "SET search_path = pg_catalog",
    "SET/**/statement_timeout = 4321",
    "SET ROLE writer_group",
    "SET SESSION AUTHORIZATION svc_writer",
    "RESET ALL",
    "BEGIN",
    "BEGIN ISOLATION LEVEL SERIALIZABLE",
    "COMMIT",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT sp",
    "SELECT 1/0",
    "CREATE TEMP TABLE IF NOT EXISTS posts (id int, tenant_id text, owner_id text, title text)",
    "INSERT INTO pg_temp.posts VALUES (1, 'acme', 'alice', 'planted')",
    "INSERT INTO public.posts (tenant_id, owner_id, title) VALUES ('acme', 'alice', 'planted')",
    "LISTEN mallory_channel",
    "SELECT pg_advisory_lock(777)",
    "PREPARE mallory_statement AS SELECT current_setting('app.user_id', true)",
    "DEALLOCATE ALL",
    "DISCARD ALL",
    "DECLARE mallory_cursor CURSOR WITH HOLD FOR SELECT 1",
    "SELECT set_config('ward.identity', 'test1.00.{\"user_id\":\"alice\"}', false)",
    "SELECT U&\"set\\005fconfig\"('app.user_id', 'alice', false)",
    "DO $$ BEGIN EXECUTE 'SE' || 'T search_path = pg_catalog'; EXECUTE 'LIS' || 'TEN mallory_do'; END $$",
    "DO $$ BEGIN EXECUTE format('CREATE %s TABLE IF NOT EXISTS mallory_t (x int)', chr(84) || 'EMP'); END $$",
    "SELECT ward.user_id(), current_setting('app.user_id', true)",
];

const EXTENDED: &[&str] = &[
    "SELECT 1",
    "SELECT 1/0",
    "SELECT set_config('app.user_id', 'alice', false)",
    "SET search_path = pg_catalog",
    "SELECT pg_advisory_lock(778)",
    "SELECT count(*) FROM posts",
];

/// One attacker turn: a random sequence, then (maybe) a fence to find the end of the
/// answers. Returns whether the attacker's connection is still usable.
async fn attacker_turn(rng: &mut Rng, w: &mut Wire, run: usize, log: &mut Vec<String>) -> bool {
    for _ in 0..1 + rng.below(6) {
        match rng.below(5) {
            0 | 1 => {
                let sql = rng.pick(STATEMENTS);
                log.push(format!("Q {sql}"));
                w.query(sql);
            }
            2 | 3 => {
                let name = rng.pick(&["", "s1", "s2"]);
                let sql = rng.pick(EXTENDED);
                log.push(format!("P/B/E {name:?} {sql}"));
                w.parse(name, sql).bind_execute(name, &[]);
                if rng.below(2) == 0 {
                    log.push("S".into());
                    w.sync();
                }
            }
            _ => {
                log.push("F set_config(app.user_id, alice)".into());
                w.function_call(2078, &["app.user_id", "alice", "false"]);
            }
        }
    }
    match rng.below(6) {
        // Gone without a word, whatever it left pending or open.
        0 => {
            log.push("vanish".into());
            w.flush().await;
            false
        }
        _ => {
            // A Sync ends any error-skipping; the ROLLBACK ends whatever transaction is open
            // (the attacker's last chance to keep its backend is to vanish inside one, above);
            // the row marks the end of the answers.
            let fence = format!("fence-{run}");
            log.push("S + ROLLBACK + fence".into());
            w.sync().query(&format!("ROLLBACK; SELECT '{fence}'"));
            w.flush().await;
            loop {
                match w.next().await {
                    Some(Reply::Row(cols)) if cols[0].as_deref() == Some(fence.as_str()) => break,
                    Some(_) => {}
                    // The gate ended the session (a statement it sent for the client failed).
                    None => return false,
                }
            }
            matches!(w.next().await, Some(Reply::Ready(b'I')))
        }
    }
}

async fn generated_runs(mode: PoolMode, seed: u64, runs: usize) {
    let (issuer, gate) = setup_with(|c| {
        c.pool_mode = mode;
        c.pool_size = 1;
        c.queue_timeout = Duration::from_secs(10);
    })
    .await;
    let (alice, mallory) = (issuer.token("alice", &["writer"]).unwrap(), issuer.token("mallory", &["writer"]).unwrap());
    let mut rng = Rng(seed);
    let mut victim = (mode == PoolMode::Transaction).then_some(Wire::login(gate.addr, "alice", &alice).await);
    let mut attacker: Option<Wire> = None;
    let mut log = Vec::new();
    for run in 0..runs {
        log.clear();
        let mut w = match attacker.take() {
            Some(w) => w,
            None => Wire::login(gate.addr, "mallory", &mallory).await,
        };
        let alive = attacker_turn(&mut rng, &mut w, run, &mut log).await;
        // Session pooling holds the backend for the session: the attacker leaves.
        if alive && mode == PoolMode::Transaction && rng.below(4) != 0 {
            attacker = Some(w);
        } else if alive && rng.below(2) == 0 {
            w.terminate().await;
        } else {
            w.vanish().await;
        }
        let seen = match victim.as_mut() {
            Some(v) => v.rows(VICTIM_STATE).await,
            None => {
                let mut v = Wire::login(gate.addr, "alice", &alice).await;
                let seen = v.rows(VICTIM_STATE).await;
                v.terminate().await;
                seen
            }
        };
        let seen: Vec<String> = seen[0].iter().map(|c| c.clone().unwrap_or_else(|| "NULL".into())).collect();
        assert_eq!(seen, VICTIM_CLEAN, "{mode:?}, seed {seed:#x}, run {run}: after {log:?}");
    }
    let db = ward_testkit::gate::gate_db().await.unwrap();
    let (admin, connection) = tokio_postgres::connect(&db.superuser_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let planted: i64 = admin.query_one("SELECT count(*) FROM posts WHERE title = 'planted'", &[]).await.unwrap().get(0);
    assert_eq!(planted, 0, "{mode:?}: the attacker wrote as alice");
}

/// The seed: fixed unless WARD_TEST_SEED says otherwise, so CI is repeatable and a
/// developer can explore.
fn seed() -> u64 {
    std::env::var("WARD_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x005e_ed0f_3a7d)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_attacks_in_transaction_pooling() {
    generated_runs(PoolMode::Transaction, seed(), 2000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_attacks_in_session_pooling() {
    generated_runs(PoolMode::Session, seed() ^ 0xa5a5, 1000).await;
}
