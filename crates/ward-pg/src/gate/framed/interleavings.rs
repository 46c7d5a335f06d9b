//! A property test of the whole loop, sockets and pool included: clients of three identities
//! share a pool of two backends on a fake PostgreSQL that answers at random — errors in the
//! gate's own reset and identity statements, non-idle answers to them, errors inside
//! clients' transactions, dropped connections — while clients send random transactions,
//! pipelines and prepared statements in randomly split writes, and leave, cleanly or not, at
//! random points. Whatever the interleaving:
//!
//! - no client message reaches a backend whose identity statement for that client has not
//!   completed cleanly (the fake server checks every message it receives);
//! - no client ever reads an answer to another client's statement;
//! - every session ends.
//!
//! Each case is a seed; a failure names it, and `WARD_INTERLEAVING_SEED=N` replays one.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use ward_core::sync::lock;
use ward_token::remote::Identity;

use super::{FramedLoop, LoopSettings, Sharing};
use crate::gate::backend::{Address, Upstream};
use crate::gate::cancel::CancelRegistry;
use crate::gate::conn::Conn;
use crate::gate::context::SessionIdentity;
use crate::gate::pool::{Pool, PoolSettings};
use crate::protocol::codec::{put_cstr, put_frame};
use crate::protocol::frontend::StartupParams;
use crate::protocol::tag::{backend as server, frontend as client, status};

const CASES: u64 = 200;
const PEOPLE: [&str; 3] = ["alice", "bob", "carol"];

/// xorshift64*: small, seeded, good enough to pick interleavings.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True one time in `n`.
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

type Violations = Arc<Mutex<Vec<String>>>;

#[test]
fn no_interleaving_lets_a_client_run_as_another_identity() {
    let seeds: Vec<u64> = match std::env::var("WARD_INTERLEAVING_SEED") {
        Ok(seed) => vec![seed.parse().unwrap_or(0)],
        Err(_) => (1..=CASES).collect(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    for seed in seeds {
        let violations = runtime.block_on(one_case(seed));
        assert!(violations.is_empty(), "seed {seed} (WARD_INTERLEAVING_SEED={seed}): {violations:#?}");
    }
}

async fn one_case(seed: u64) -> Vec<String> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let socket = dir.path().join(".s.PGSQL.5432");
    let violations: Violations = Arc::default();
    let fake = tokio::spawn(fake_postgres(socket.clone(), seed, violations.clone()));
    let mut rng = Rng::new(seed);
    let sharing = if rng.one_in(4) { Sharing::Session } else { Sharing::Transaction };
    let pool = Arc::new(pool(&socket, if sharing == Sharing::Session { 3 } else { 2 }));
    let cancel = Arc::new(CancelRegistry::default());
    let sessions: Vec<_> = (0..PEOPLE.len() * 2)
        .map(|i| {
            let person = PEOPLE[i % PEOPLE.len()];
            let session = session(person, seed * 100 + i as u64, sharing, pool.clone(), cancel.clone());
            tokio::spawn(session)
        })
        .collect();
    for (i, session) in sessions.into_iter().enumerate() {
        match tokio::time::timeout(Duration::from_secs(20), session).await {
            Ok(Ok(found)) => lock(&violations).extend(found),
            Ok(Err(e)) => lock(&violations).push(format!("session {i} panicked: {e}")),
            Err(_) => lock(&violations).push(format!("session {i} never ended")),
        }
    }
    fake.abort();
    std::mem::take(&mut *lock(&violations))
}

fn pool(socket: &Path, size: usize) -> Pool {
    let upstream = Upstream {
        address: Address::Unix(socket.to_owned()),
        database: "app".into(),
        connect_timeout: Duration::from_secs(2),
    };
    let settings = PoolSettings {
        size,
        idle_timeout: Duration::from_secs(60),
        queue_timeout: Duration::from_secs(10),
        reset_query: "DISCARD ALL".into(),
        reset_timeout: Duration::from_secs(2),
    };
    Pool::new(upstream, "svc".into(), None, settings)
}

fn identity(person: &str) -> Identity {
    Identity {
        issuer: "https://id.example".into(),
        subject: person.into(),
        identity: person.into(),
        roles: vec!["reader".into()],
        scopes: vec![],
        client_id: None,
        jti: None,
        expires_at: i64::MAX,
        claims: Default::default(),
    }
}

/// One client session: the gate's loop on one end of a socket pair, a random client on the
/// other. Returns what the client saw that was not its own.
async fn session(
    person: &'static str,
    seed: u64,
    sharing: Sharing,
    pool: Arc<Pool>,
    cancel: Arc<CancelRegistry>,
) -> Vec<String> {
    let (gate_end, client_end) = UnixStream::pair().expect("a socket pair");
    let gate = tokio::spawn(async move {
        let context = ward_config::gate::default_context();
        let who = SessionIdentity::new(&context, &identity(person), &StartupParams::default(), None);
        let settings = LoopSettings {
            sharing,
            max_message: 1 << 20,
            same_identity_reset: "RESET ALL".into(),
            reset_timeout: Duration::from_secs(2),
            client_idle_timeout: Duration::ZERO,
            expires_in: None,
        };
        let registration = cancel.register(&ward_token::OsEntropy, None);
        let mut framed = FramedLoop::new(&settings, &pool, &who, &registration, None);
        let mut conn = Conn::new(gate_end);
        if framed.prepare().await.is_ok() {
            framed.run(&mut conn).await;
        }
    });
    let seen = random_client(person, seed, client_end).await;
    let _ = gate.await;
    seen
}

/// Sends random transactions and reads every answer, until it leaves; returns answers that
/// name anyone else.
async fn random_client(person: &'static str, seed: u64, stream: UnixStream) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let (mut read, mut write) = stream.into_split();
    let reader = tokio::spawn(async move {
        let mut foreign = Vec::new();
        let mut buf = BytesMut::new();
        while read.read_buf(&mut buf).await.is_ok_and(|n| n > 0) {
            while let Some((tag, body)) = take_message(&mut buf) {
                let text = String::from_utf8_lossy(&body).into_owned();
                if tag == server::COMMAND_COMPLETE
                    && let Some(owner) = marker_owner(&text)
                    && owner != person
                {
                    foreign.push(format!("{person} read {owner}'s answer: {text:?}"));
                }
            }
        }
        foreign
    });
    let transactions = 2 + rng.below(6);
    let mut named = false;
    for n in 0..transactions {
        let mut out = BytesMut::new();
        let tag = format!("client:{person}:{n}");
        match rng.below(5) {
            0 => query(&mut out, &tag),
            1 => {
                query(&mut out, &format!("{tag}:begin"));
                query(&mut out, &tag);
                query(&mut out, &format!("{tag}:commit"));
            }
            2 => extended(&mut out, "", &tag),
            3 => {
                // A named statement, prepared once and bound again later (maybe on another
                // backend, where the gate prepares it again).
                extended(&mut out, if named { "" } else { "s1" }, &tag);
                named = true;
                bind_execute_sync(&mut out, "s1");
            }
            _ => {
                // A pipeline: two syncs before reading anything.
                extended(&mut out, "", &tag);
                extended(&mut out, "", &format!("{tag}:again"));
            }
        }
        if rng.one_in(12) {
            // Leaves mid-write: the rest of this transaction never comes.
            let cut = rng.below(out.len() as u64) as usize;
            let _ = write.write_all(&out[..cut]).await;
            drop(write);
            return reader.await.unwrap_or_default();
        }
        while !out.is_empty() {
            let chunk = (1 + rng.below(out.len() as u64)) as usize;
            if write.write_all(&out.split_to(chunk)).await.is_err() {
                return reader.await.unwrap_or_default();
            }
            if rng.one_in(3) {
                tokio::task::yield_now().await;
            }
        }
        if rng.one_in(2) {
            tokio::time::sleep(Duration::from_micros(rng.below(2000))).await;
        }
    }
    if rng.one_in(3) {
        let mut out = BytesMut::new();
        put_frame(&mut out, client::TERMINATE, |_| {});
        let _ = write.write_all(&out).await;
    }
    drop(write);
    reader.await.unwrap_or_default()
}

fn query(out: &mut BytesMut, text: &str) {
    put_frame(out, client::QUERY, |b| put_cstr(b, &format!("select '{text}'")));
}

fn extended(out: &mut BytesMut, statement: &str, text: &str) {
    put_frame(out, client::PARSE, |b| {
        put_cstr(b, statement);
        put_cstr(b, &format!("select '{text}'"));
        b.put_i16(0);
    });
    bind_execute_sync(out, statement);
}

fn bind_execute_sync(out: &mut BytesMut, statement: &str) {
    put_frame(out, client::BIND, |b| {
        put_cstr(b, "");
        put_cstr(b, statement);
        b.put_i16(0);
        b.put_i16(0);
        b.put_i16(0);
    });
    put_frame(out, client::DESCRIBE, |b| {
        b.put_u8(b'P');
        put_cstr(b, "");
    });
    put_frame(out, client::EXECUTE, |b| {
        put_cstr(b, "");
        b.put_i32(0);
    });
    put_frame(out, client::SYNC, |_| {});
}

/// A whole message from the front of `buf`: tag and body.
fn take_message(buf: &mut BytesMut) -> Option<(u8, BytesMut)> {
    if buf.len() < 5 {
        return None;
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() < len + 1 {
        return None;
    }
    let tag = buf[0];
    buf.advance(5);
    Some((tag, buf.split_to(len - 4)))
}

/// `alice` in `… client:alice:3 …`.
fn marker_owner(text: &str) -> Option<&str> {
    text.split("client:").nth(1)?.split(':').next()
}

/// What one fake backend connection knows about itself.
#[derive(Default)]
struct FakeSession {
    /// `app.user_id` as its last identity statement set it, once that completed cleanly.
    proven: Option<String>,
    /// The identity statement under way: the value its Bind carries.
    pending: Option<String>,
    in_identity_batch: bool,
    /// After an error in the extended protocol, everything up to Sync is skipped.
    skipping: bool,
    in_transaction: bool,
    failed_transaction: bool,
    /// The client statement whose Execute comes next.
    last_client_text: Option<String>,
}

/// A PostgreSQL that speaks just enough of the protocol, answers at random, and checks
/// that every client message it receives arrives on a connection proven for that client.
async fn fake_postgres(socket: std::path::PathBuf, seed: u64, violations: Violations) {
    let Ok(listener) = UnixListener::bind(&socket) else { return };
    let mut connection = 0u64;
    while let Ok((stream, _)) = listener.accept().await {
        connection += 1;
        let rng = Rng::new(seed ^ (connection << 32));
        tokio::spawn(fake_connection(stream, rng, violations.clone()));
    }
}

async fn fake_connection(mut stream: UnixStream, mut rng: Rng, violations: Violations) {
    let mut buf = BytesMut::new();
    // The startup packet: a length, then the rest.
    while buf.len() < 4 || buf.len() < i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize {
        if stream.read_buf(&mut buf).await.map_or(true, |n| n == 0) {
            return;
        }
    }
    let mut out = BytesMut::new();
    put_frame(&mut out, server::AUTHENTICATION, |b| b.put_i32(0));
    put_frame(&mut out, server::PARAMETER_STATUS, |b| {
        put_cstr(b, "server_version");
        put_cstr(b, "17.0");
    });
    put_frame(&mut out, server::BACKEND_KEY_DATA, |b| {
        b.put_i32(rng.below(1 << 30) as i32);
        b.put_i32(7);
    });
    ready(&mut out, status::IDLE);
    if stream.write_all(&out).await.is_err() {
        return;
    }
    buf.clear();
    let mut state = FakeSession::default();
    loop {
        while let Some((tag, body)) = take_message(&mut buf) {
            let mut out = BytesMut::new();
            if tag == client::TERMINATE || rng.one_in(400) {
                // PostgreSQL went away (or the client asked it to).
                return;
            }
            answer(tag, &body, &mut state, &mut rng, &mut out, &violations);
            if !out.is_empty() && stream.write_all(&out).await.is_err() {
                return;
            }
            if rng.one_in(4) {
                tokio::task::yield_now().await;
            }
        }
        if stream.read_buf(&mut buf).await.map_or(true, |n| n == 0) {
            return;
        }
    }
}

fn ready(out: &mut BytesMut, status: u8) {
    put_frame(out, server::READY_FOR_QUERY, |b| b.put_u8(status));
}

fn error(out: &mut BytesMut) {
    put_frame(out, server::ERROR_RESPONSE, |b| {
        b.put_u8(b'S');
        put_cstr(b, "ERROR");
        b.put_u8(b'C');
        put_cstr(b, "XX000");
        b.put_u8(b'M');
        put_cstr(b, "a fault the test injected");
        b.put_u8(0);
    });
}

fn complete(out: &mut BytesMut, text: &str) {
    put_frame(out, server::COMMAND_COMPLETE, |b| put_cstr(b, &format!("SELECT 1 {text}")));
}

/// The text of the first NUL-terminated string in `body`.
fn cstr(body: &[u8]) -> String {
    let end = body.iter().position(|b| *b == 0).unwrap_or(body.len());
    String::from_utf8_lossy(&body[..end]).into_owned()
}

/// Checks a client statement arriving on this connection.
fn check(state: &FakeSession, text: &str, violations: &Violations) {
    let Some(owner) = marker_owner(text) else { return };
    if state.proven.as_deref() != Some(owner) {
        lock(violations).push(format!("{owner}'s statement {text:?} reached a backend proven for {:?}", state.proven));
    }
}

fn transaction_status(state: &FakeSession) -> u8 {
    match (state.in_transaction, state.failed_transaction) {
        (false, _) => status::IDLE,
        (true, false) => status::IN_TRANSACTION,
        (true, true) => status::FAILED,
    }
}

fn answer(tag: u8, body: &[u8], state: &mut FakeSession, rng: &mut Rng, out: &mut BytesMut, violations: &Violations) {
    match tag {
        client::QUERY => {
            let text = cstr(body);
            check(state, &text, violations);
            if marker_owner(&text).is_none() {
                // The gate's reset: settings go, and with them the identity.
                state.proven = None;
                state.in_transaction = false;
                state.failed_transaction = false;
            }
            if rng.one_in(8) {
                error(out);
                state.failed_transaction = state.in_transaction;
            } else {
                if text.contains(":begin") {
                    state.in_transaction = true;
                } else if text.contains(":commit") {
                    state.in_transaction = false;
                    state.failed_transaction = false;
                }
                complete(out, &text);
            }
            ready(out, transaction_status(state));
        }
        client::PARSE => {
            let (_name, rest) = body.split_at(body.iter().position(|b| *b == 0).map_or(0, |at| at + 1));
            let text = cstr(rest);
            if text.starts_with("SELECT set_config") {
                state.in_identity_batch = true;
                state.pending = None;
            } else {
                check(state, &text, violations);
                state.last_client_text = Some(text);
            }
            if state.skipping {
                return;
            }
            if rng.one_in(10) {
                error(out);
                state.skipping = true;
            } else {
                put_frame(out, server::PARSE_COMPLETE, |_| {});
            }
        }
        client::BIND => {
            if state.in_identity_batch {
                state.pending = bound_user_id(body);
            }
            if !state.skipping {
                put_frame(out, server::BIND_COMPLETE, |_| {});
            }
        }
        client::DESCRIBE if !state.skipping => put_frame(out, server::NO_DATA, |_| {}),
        client::EXECUTE if !state.skipping => {
            if rng.one_in(10) {
                error(out);
                state.skipping = true;
                state.failed_transaction = state.in_transaction;
            } else if state.in_identity_batch {
                complete(out, "identity");
            } else {
                complete(out, state.last_client_text.as_deref().unwrap_or_default());
            }
        }
        client::CLOSE if !state.skipping => put_frame(out, server::CLOSE_COMPLETE, |_| {}),
        client::SYNC => {
            let failed = std::mem::take(&mut state.skipping);
            if std::mem::take(&mut state.in_identity_batch) {
                let pending = state.pending.take();
                if !failed && rng.one_in(12) {
                    // Answers "in a transaction": the identity is not proven, whatever it set.
                    state.proven = None;
                    ready(out, status::IN_TRANSACTION);
                    return;
                }
                state.proven = if failed { None } else { pending };
            }
            ready(out, transaction_status(state));
        }
        _ => {}
    }
}

/// The value bound for `app.user_id` in the identity statement's Bind.
fn bound_user_id(body: &[u8]) -> Option<String> {
    let mut b = BytesMut::from(body);
    for _ in 0..2 {
        let end = b.iter().position(|c| *c == 0)?;
        b.advance(end + 1);
    }
    let formats = b.get_i16() as usize;
    b.advance(formats * 2);
    let count = b.get_i16() as usize;
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        let len = b.get_i32();
        let len = usize::try_from(len).ok()?;
        values.push(String::from_utf8_lossy(&b.split_to(len)).into_owned());
    }
    values.chunks(2).find(|pair| pair[0] == "app.user_id").map(|pair| pair[1].clone())
}
