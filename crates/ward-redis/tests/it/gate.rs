//! The Redis gate in front of a Redis of the test's own (an ACL user for the service account),
//! with tokens from a fake issuer: raw RESP clients, redis-cli, and what an attacker would try.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use ward_redis::protocol::{Limits, frame_len};
use ward_testkit::gate::{stop_signal, trust_fake, verifier};
use ward_testkit::oidc::FakeIssuer;
use ward_testkit::redis::{RedisServer, encode, private_server};
use ward_token::remote::Refresher;

pub(crate) struct Setup {
    pub(crate) issuer: FakeIssuer,
    pub(crate) redis: RedisServer,
    pub(crate) addr: SocketAddr,
    _stop: watch::Sender<bool>,
    _refresher: Refresher,
}

pub(crate) async fn setup() -> Result<Setup> {
    setup_with("").await
}

/// A gate whose configuration has `extra` lines added.
pub(crate) async fn setup_with(extra: &str) -> Result<Setup> {
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await?;
    let redis = tokio::task::spawn_blocking(private_server).await??;
    redis.add_gate_account()?;
    let config: ward_config::gate::RedisGateConfig = toml::from_str(&format!(
        r#"
listen = "127.0.0.1:0"
upstream = {{ host = "{host}", port = {port} }}
queue_timeout = "2s"
roles = [{{ role = "*", account = "svc_cache" }}]
accounts.svc_cache = {{ password = "cache-pw" }}
{extra}
"#,
        host = redis.host,
        port = redis.port
    ))?;
    let (verifier, clock, refresher) = verifier(&[trust_fake(&issuer)]).await;
    let (tx, stop) = stop_signal();
    let gate = ward_redis::gate::start(&config, verifier, clock, |_| None, stop).await?;
    Ok(Setup { issuer, redis, addr: gate.running.local_addr(), _stop: tx, _refresher: refresher })
}

impl Setup {
    pub(crate) fn token(&self, sub: &str, scope: &str) -> String {
        self.issuer.sign(&self.issuer.claims(sub, &["cache"], json!({ "scope": scope }))).unwrap_or_default()
    }

    pub(crate) async fn client(&self) -> Result<Client> {
        Ok(Client { stream: TcpStream::connect(self.addr).await?, buf: Vec::new() })
    }

    /// A client authenticated as `sub` with read and write scopes.
    pub(crate) async fn signed_in(&self, sub: &str) -> Result<Client> {
        let mut client = self.client().await?;
        let reply = client.call(&["AUTH", &self.token(sub, "cache:read cache:write")]).await?;
        anyhow::ensure!(reply == "+OK\r\n", "AUTH: {reply}");
        Ok(client)
    }
}

pub(crate) struct Client {
    pub(crate) stream: TcpStream,
    pub(crate) buf: Vec<u8>,
}

impl Client {
    pub(crate) async fn send(&mut self, args: &[&str]) -> Result<()> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&encode(&args)).await?;
        Ok(())
    }

    pub(crate) async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// The next whole reply, as text.
    pub(crate) async fn reply(&mut self) -> Result<String> {
        loop {
            if let Ok(Some(len)) = frame_len(&self.buf, &Limits::SERVER) {
                let reply: Vec<u8> = self.buf.drain(..len).collect();
                return Ok(String::from_utf8_lossy(&reply).into_owned());
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(Duration::from_secs(5), self.stream.read(&mut chunk))
                .await
                .context("no reply within 5 s")??;
            anyhow::ensure!(n > 0, "the gate closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub(crate) async fn call(&mut self, args: &[&str]) -> Result<String> {
        self.send(args).await?;
        self.reply().await
    }

    /// Whether the gate has closed the connection (within a second).
    pub(crate) async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(tokio::time::timeout(Duration::from_secs(1), self.stream.read(&mut chunk)).await, Ok(Ok(0) | Err(_)))
    }
}

#[tokio::test]
async fn before_auth_only_connection_commands_are_served() -> Result<()> {
    let s = setup().await?;
    let mut c = s.client().await?;
    assert_eq!(c.call(&["PING"]).await?, "+PONG\r\n");
    assert!(c.call(&["GET", "k"]).await?.starts_with("-NOAUTH"));
    assert!(c.call(&["KEYS", "*"]).await?.starts_with("-NOAUTH"));
    assert!(c.call(&["FLUSHALL"]).await?.starts_with("-NOAUTH"));
    assert!(c.call(&["HELLO", "3"]).await?.starts_with("-NOAUTH"));
    assert!(c.call(&["AUTH", "not-a-token"]).await?.starts_with("-WRONGPASS"));
    let expired =
        s.issuer.sign(&s.issuer.claims("alice", &["cache"], json!({"exp": 1_000_000, "scope": "cache:read"})))?;
    assert!(c.call(&["AUTH", &expired]).await?.starts_with("-WRONGPASS"));
    assert!(
        c.call(&["AUTH", "bob", &s.token("alice", "cache:read")]).await?.starts_with("-WRONGPASS"),
        "user mismatch"
    );
    let unscoped = s.token("alice", "openid");
    assert!(c.call(&["AUTH", &unscoped]).await?.starts_with("-NOPERM"));
    assert_eq!(c.call(&["AUTH", "alice", &s.token("alice", "cache:read")]).await?, "+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]).await?, "$-1\r\n");
    Ok(())
}

#[tokio::test]
async fn each_identity_lives_in_its_own_namespace() -> Result<()> {
    let s = setup().await?;
    let mut alice = s.signed_in("alice").await?;
    let mut bob = s.signed_in("bob").await?;
    assert_eq!(alice.call(&["SET", "k", "alice's"]).await?, "+OK\r\n");
    assert_eq!(bob.call(&["GET", "k"]).await?, "$-1\r\n", "bob sees nothing of alice's");
    assert_eq!(bob.call(&["SET", "k", "bob's"]).await?, "+OK\r\n");
    assert_eq!(alice.call(&["GET", "k"]).await?, "$7\r\nalice's\r\n");
    // Stored under each one's prefix.
    assert_eq!(s.redis.command(&[b"GET", b"u:alice:k"])?, b"$7\r\nalice's\r\n");
    assert_eq!(s.redis.command(&[b"GET", b"u:bob:k"])?, b"$5\r\nbob's\r\n");
    // KEYS and SCAN see only the caller's keys, without the prefix.
    assert_eq!(alice.call(&["KEYS", "*"]).await?, "*1\r\n$1\r\nk\r\n");
    let scan = alice.call(&["SCAN", "0", "COUNT", "1000"]).await?;
    assert!(scan.ends_with("*1\r\n$1\r\nk\r\n"), "{scan}");
    // Escapes that stay inside: a key that spells another prefix is just a key of alice's.
    assert_eq!(alice.call(&["RENAME", "k", "u:bob:k"]).await?, "+OK\r\n");
    assert_eq!(bob.call(&["GET", "k"]).await?, "$5\r\nbob's\r\n");
    assert_eq!(s.redis.command(&[b"EXISTS", b"u:alice:u:bob:k"])?, b":1\r\n");
    // What cannot be confined is refused.
    for refused in [
        vec!["RANDOMKEY"],
        vec!["SORT", "k", "BY", "u:bob:*"],
        vec!["EVAL", "return redis.call('GET', 'u:bob:k')", "0"],
        vec!["FLUSHALL"],
        vec!["CONFIG", "GET", "*"],
        vec!["SELECT", "1"],
        vec!["CLIENT", "KILL", "ID", "1"],
        vec!["DEBUG", "OBJECT", "k"],
        vec!["NOSUCHCOMMAND"],
    ] {
        let reply = alice.call(&refused).await?;
        assert!(reply.starts_with("-NOPERM"), "{refused:?}: {reply}");
    }
    assert_eq!(bob.call(&["GET", "k"]).await?, "$5\r\nbob's\r\n", "nothing changed");
    assert_eq!(alice.call(&["EVAL", "return redis.call('GET', KEYS[1])", "1", "u:bob:k"]).await?, "$7\r\nalice's\r\n");
    Ok(())
}

#[tokio::test]
async fn a_read_scope_reads_and_never_writes() -> Result<()> {
    let s = setup().await?;
    let mut writer = s.signed_in("carol").await?;
    writer.call(&["SET", "k", "v"]).await?;
    let mut reader = s.client().await?;
    assert_eq!(reader.call(&["AUTH", &s.token("carol", "cache:read")]).await?, "+OK\r\n");
    assert_eq!(reader.call(&["GET", "k"]).await?, "$1\r\nv\r\n");
    for write in [vec!["SET", "k", "x"], vec!["DEL", "k"], vec!["EXPIRE", "k", "1"], vec!["LPUSH", "l", "x"]] {
        let reply = reader.call(&write).await?;
        assert!(reply.starts_with("-NOPERM"), "{write:?}: {reply}");
    }
    assert_eq!(reader.call(&["GET", "k"]).await?, "$1\r\nv\r\n");
    Ok(())
}

#[tokio::test]
async fn pipelines_keep_their_order_with_the_gates_own_answers_in_place() -> Result<()> {
    // On the shared connections, and on one of the session's own.
    for extra in ["", "shared_connections = 0"] {
        pipeline_order(extra).await?;
    }
    Ok(())
}

async fn pipeline_order(extra: &str) -> Result<()> {
    let s = setup_with(extra).await?;
    let mut c = s.signed_in("dave").await?;
    let mut pipeline = Vec::new();
    for args in [&["SET", "a", "1"][..], &["GET", "a"], &["FLUSHALL"], &["INCR", "a"], &["PING"], &["GET", "a"]] {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        pipeline.extend(encode(&args));
    }
    c.send_raw(&pipeline).await?;
    assert_eq!(c.reply().await?, "+OK\r\n");
    assert_eq!(c.reply().await?, "$1\r\n1\r\n");
    assert!(c.reply().await?.starts_with("-NOPERM"));
    assert_eq!(c.reply().await?, ":2\r\n");
    assert_eq!(c.reply().await?, "+PONG\r\n");
    assert_eq!(c.reply().await?, "$1\r\n2\r\n");
    Ok(())
}

#[tokio::test]
async fn transactions_give_back_each_reply_by_its_command() -> Result<()> {
    for extra in ["", "shared_connections = 0"] {
        transactions(extra).await?;
    }
    Ok(())
}

async fn transactions(extra: &str) -> Result<()> {
    let s = setup_with(extra).await?;
    let mut c = s.signed_in("erin").await?;
    assert_eq!(c.call(&["MULTI"]).await?, "+OK\r\n");
    assert_eq!(c.call(&["SET", "t", "1"]).await?, "+QUEUED\r\n");
    assert_eq!(c.call(&["KEYS", "t*"]).await?, "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]).await?, "*2\r\n+OK\r\n*1\r\n$1\r\nt\r\n");
    // A command the gate refuses inside MULTI aborts the transaction, as Redis's own errors do.
    assert_eq!(c.call(&["MULTI"]).await?, "+OK\r\n");
    assert_eq!(c.call(&["SET", "t", "2"]).await?, "+QUEUED\r\n");
    assert!(c.call(&["FLUSHALL"]).await?.starts_with("-NOPERM"));
    assert!(c.call(&["EXEC"]).await?.starts_with("-EXECABORT"));
    assert_eq!(c.call(&["GET", "t"]).await?, "$1\r\n1\r\n", "nothing of it ran");
    Ok(())
}

#[tokio::test]
async fn blocking_pops_and_pub_sub_stay_in_the_namespace() -> Result<()> {
    let s = setup().await?;
    let mut waiter = s.signed_in("frank").await?;
    let mut pusher = s.signed_in("frank").await?;
    let mut stranger = s.signed_in("grace").await?;
    waiter.send(&["BLPOP", "jobs", "5"]).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(stranger.call(&["RPUSH", "jobs", "not yours"]).await?, ":1\r\n");
    assert_eq!(pusher.call(&["RPUSH", "jobs", "job-1"]).await?, ":1\r\n");
    assert_eq!(waiter.reply().await?, "*2\r\n$4\r\njobs\r\n$5\r\njob-1\r\n");

    // Unsubscribing before subscribing is answered like any command.
    assert_eq!(waiter.call(&["UNSUBSCRIBE", "nothing"]).await?, "*3\r\n$11\r\nunsubscribe\r\n$7\r\nnothing\r\n:0\r\n");
    assert_eq!(waiter.call(&["GET", "still-works"]).await?, "$-1\r\n");
    assert_eq!(waiter.call(&["SUBSCRIBE", "news"]).await?, "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    assert_eq!(stranger.call(&["PUBLISH", "news", "not for frank"]).await?, ":0\r\n");
    assert_eq!(pusher.call(&["PUBLISH", "news", "hello"]).await?, ":1\r\n");
    assert_eq!(waiter.reply().await?, "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    assert_eq!(waiter.call(&["PSUBSCRIBE", "*"]).await?, "*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:2\r\n");
    assert_eq!(stranger.call(&["PUBLISH", "other", "x"]).await?, ":0\r\n", "grace reaches no pattern of frank's");
    assert_eq!(waiter.call(&["PING"]).await?, "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    Ok(())
}

#[tokio::test]
async fn resp3_clients_sign_in_with_hello() -> Result<()> {
    let s = setup().await?;
    let mut c = s.client().await?;
    let hello = c.call(&["HELLO", "3", "AUTH", "default", &s.token("heidi", "cache:read cache:write")]).await?;
    assert!(hello.starts_with('%') && hello.contains("proto\r\n:3"), "{hello}");
    assert_eq!(c.call(&["SET", "k", "v"]).await?, "+OK\r\n");
    assert_eq!(c.call(&["GET", "nothing"]).await?, "_\r\n", "RESP3's null");
    assert_eq!(c.call(&["SUBSCRIBE", "ch"]).await?, ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    Ok(())
}

#[tokio::test]
async fn malformed_and_oversize_input_ends_the_connection_with_an_error() -> Result<()> {
    let s = setup().await?;
    let mut c = s.signed_in("ivan").await?;
    c.send_raw(b"*2\r\n:1\r\n").await?;
    let reply = c.reply().await?;
    assert!(reply.starts_with("-ERR Protocol error"), "{reply}");
    assert!(c.closed().await);
    let mut c = s.signed_in("ivan").await?;
    c.send_raw(format!("*2\r\n$3\r\nSET\r\n${}\r\n", 1u64 << 40).as_bytes()).await?;
    let reply = c.reply().await?;
    assert!(reply.starts_with("-ERR Protocol error: invalid bulk length"), "{reply}");
    assert!(c.closed().await);
    let mut c = s.client().await?;
    c.send_raw(&vec![b'a'; 70 * 1024]).await?;
    assert!(c.reply().await?.starts_with("-ERR Protocol error: too big inline request"));
    Ok(())
}

#[tokio::test]
async fn redis_cli_works_through_the_gate() -> Result<()> {
    let s = setup().await?;
    let token = s.token("judy", "cache:read cache:write");
    let port = s.addr.port().to_string();
    let run = move |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port, "--no-auth-warning", "-a", &token])
            .args(args)
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let (set, get, keys) = tokio::task::spawn_blocking(move || -> Result<_> {
        Ok((run(&["SET", "greeting", "hi"])?, run(&["GET", "greeting"])?, run(&["KEYS", "*"])?))
    })
    .await??;
    assert_eq!((set.as_str(), get.as_str(), keys.as_str()), ("OK", "hi", "greeting"));
    assert_eq!(s.redis.command(&[b"GET", b"u:judy:greeting"])?, b"$2\r\nhi\r\n");
    Ok(())
}

#[tokio::test]
async fn sessions_end_when_their_token_expires_or_they_never_authenticate() -> Result<()> {
    let s = setup_with("close_on_expiry = true\nauth_timeout = \"500ms\"").await?;
    let mut silent = s.client().await?;
    let reply = silent.reply().await?;
    assert!(reply.starts_with("-NOAUTH authentication timed out"), "{reply}");
    assert!(silent.closed().await);
    // After RESET the clock starts again: a client signed in long enough is not cut off.
    let mut resetting = s.signed_in("kate").await?;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(resetting.call(&["RESET"]).await?, "+RESET\r\n");
    assert_eq!(resetting.call(&["PING"]).await?, "+PONG\r\n");

    let now = ward_core::Clock::now(&ward_core::SystemClock);
    let claims = s.issuer.claims("kate", &["cache"], json!({ "scope": "cache:read", "exp": now + 2 }));
    let mut c = s.client().await?;
    assert_eq!(c.call(&["AUTH", &s.issuer.sign(&claims)?]).await?, "+OK\r\n");
    assert_eq!(c.call(&["GET", "k"]).await?, "$-1\r\n");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reply = c.reply().await?;
    assert!(reply.contains("expired"), "{reply}");
    assert!(c.closed().await);
    Ok(())
}

#[tokio::test]
async fn an_idle_client_is_let_go() -> Result<()> {
    let s = setup_with("client_idle_timeout = \"500ms\"").await?;
    let mut c = s.signed_in("leo").await?;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let reply = c.reply().await?;
    assert!(reply.contains("idle"), "{reply}");
    assert!(c.closed().await);
    Ok(())
}

#[tokio::test]
async fn watch_reauth_and_reset_behave_as_in_redis() -> Result<()> {
    let s = setup().await?;
    let mut c = s.signed_in("mia").await?;
    let mut other = s.signed_in("mia").await?;
    assert_eq!(c.call(&["WATCH", "w"]).await?, "+OK\r\n");
    assert_eq!(other.call(&["SET", "w", "changed"]).await?, "+OK\r\n");
    assert_eq!(c.call(&["MULTI"]).await?, "+OK\r\n");
    assert_eq!(c.call(&["SET", "w", "mine"]).await?, "+QUEUED\r\n");
    assert_eq!(c.call(&["EXEC"]).await?, "*-1\r\n", "the watched key changed: nothing ran");
    // A fresh token for the same identity is fine; another identity is not, on this connection.
    assert_eq!(c.call(&["AUTH", &s.token("mia", "cache:read cache:write")]).await?, "+OK\r\n");
    let reply = c.call(&["AUTH", &s.token("nick", "cache:read cache:write")]).await?;
    assert!(reply.starts_with("-ERR"), "{reply}");
    assert_eq!(c.call(&["GET", "w"]).await?, "$7\r\nchanged\r\n", "still mia");
    // RESET logs out; the client may sign in again.
    assert_eq!(c.call(&["RESET"]).await?, "+RESET\r\n");
    assert!(c.call(&["GET", "w"]).await?.starts_with("-NOAUTH"));
    assert_eq!(c.call(&["AUTH", &s.token("nick", "cache:read cache:write")]).await?, "+OK\r\n");
    assert_eq!(c.call(&["GET", "w"]).await?, "$-1\r\n", "now nick's namespace");
    Ok(())
}

#[tokio::test]
async fn a_subject_that_spells_another_ones_prefix_gets_its_own_namespace() -> Result<()> {
    let s = setup().await?;
    let mut alice = s.signed_in("alice").await?;
    let mut tricky = s.signed_in("alice:x").await?;
    assert_eq!(alice.call(&["SET", "x:secret", "alice's"]).await?, "+OK\r\n");
    assert_eq!(tricky.call(&["GET", "secret"]).await?, "$-1\r\n", "u:alice:x:secret is alice's, not alice:x's");
    assert_eq!(tricky.call(&["KEYS", "*"]).await?, "*0\r\n");
    assert_eq!(tricky.call(&["SET", "secret", "mine"]).await?, "+OK\r\n");
    assert_eq!(s.redis.command(&[b"GET", b"u:alice%3Ax:secret"])?, b"$4\r\nmine\r\n");
    assert_eq!(alice.call(&["GET", "x:secret"]).await?, "$7\r\nalice's\r\n");
    Ok(())
}

#[tokio::test]
async fn no_command_in_the_table_reaches_another_identitys_keys() -> Result<()> {
    let s = setup().await?;
    let mut bob = s.signed_in("bob").await?;
    let names = ["a", "b", "c", "d", "k", "s", "m", "f", "x", "p", "q", "t", "w", "jobs", "news"];
    for name in names {
        assert_eq!(bob.call(&["SET", name, &format!("bob's {name}")]).await?, "+OK\r\n");
    }
    let dump = |redis: &RedisServer| -> Result<Vec<Vec<u8>>> {
        names.iter().map(|n| redis.command(&[b"DUMP", format!("u:bob:{n}").as_bytes()])).collect()
    };
    let before = dump(&s.redis)?;
    let mut monitor = TcpStream::connect(s.redis.addr()).await?;
    monitor.write_all(&encode(&[b"MONITOR"])).await?;
    let mut alice = s.signed_in("alice").await?;
    for sample in crate::key_positions::SAMPLES {
        let mut args: Vec<&str> = sample.split(' ').collect();
        if sample.starts_with('B') && args.last() == Some(&"0") {
            *args.last_mut().unwrap() = "0.01";
        }
        if args[0].starts_with("BLMPOP") || args[0].starts_with("BZMPOP") {
            args[1] = "0.01";
        }
        let reply = alice.call(&args).await.with_context(|| format!("{sample}: no reply"))?;
        assert!(!reply.is_empty(), "{sample}");
    }
    alice.call(&["ECHO", "walk-done"]).await?;

    // Every command Redis ran for alice, as MONITOR printed it, until the marker.
    let mut seen = String::new();
    let mut chunk = [0u8; 65536];
    while !seen.contains("\"walk-done\"") {
        let n = tokio::time::timeout(Duration::from_secs(5), monitor.read(&mut chunk)).await??;
        anyhow::ensure!(n > 0, "MONITOR closed");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    let mut checked = 0;
    for line in seen.lines().filter(|l| l.starts_with('+') && l.contains(" [")) {
        let args = monitor_args(line);
        let Some(name) = args.first() else { continue };
        if ward_redis::commands::lookup(name).is_none_or(|spec| matches!(spec.keys, ward_redis::commands::Keys::None)) {
            continue;
        }
        let mut getkeys: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        getkeys.extend(args.iter().map(Vec::as_slice));
        let reply = s.redis.command(&getkeys)?;
        for key in ward_testkit::redis::bulk_strings(&reply) {
            let key = String::from_utf8_lossy(&key);
            assert!(key.starts_with("u:alice:"), "the gate sent {line} naming {key}");
            checked += 1;
        }
    }
    assert!(checked >= crate::key_positions::SAMPLES.len(), "only {checked} keys seen");
    assert_eq!(dump(&s.redis)?, before, "nothing of bob's changed");
    Ok(())
}

/// The arguments of a MONITOR line: `+<time> [<db> <client>] "arg" "arg" …`, unescaped.
fn monitor_args(line: &str) -> Vec<Vec<u8>> {
    let rest = line.split_once("] ").map_or("", |(_, r)| r);
    let bytes = rest.as_bytes();
    let (mut args, mut i) = (Vec::new(), 0);
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let mut arg = Vec::new();
        i += 1;
        while i < bytes.len() && bytes[i] != b'"' {
            if bytes[i] == b'\\' && i + 1 < bytes.len() {
                i += 1;
                match bytes[i] {
                    b'n' => arg.push(b'\n'),
                    b'r' => arg.push(b'\r'),
                    b't' => arg.push(b'\t'),
                    b'x' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                        arg.push(u8::from_str_radix(hex, 16).unwrap_or(0));
                        i += 2;
                    }
                    other => arg.push(other),
                }
            } else {
                arg.push(bytes[i]);
            }
            i += 1;
        }
        args.push(arg);
        i += 1;
    }
    args
}
