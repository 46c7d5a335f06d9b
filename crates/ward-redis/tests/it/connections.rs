//! How the gate holds its connections: shared and pipelined, or one of a session's own,
//! handed from one session to the next; and TLS on both sides.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use tokio::net::TcpStream;
use ward_testkit::gate::{stop_signal, trust_fake, verifier};
use ward_testkit::oidc::FakeIssuer;
use ward_testkit::redis::encode;

use crate::gate::{Client, setup_with};

#[tokio::test]
async fn sessions_share_connections_until_one_needs_its_own() -> Result<()> {
    // One shared connection for every session, and one of their own for one of them.
    let s = setup_with("shared_connections = 1\npool_size = 1").await?;
    let mut clients = Vec::new();
    for i in 0..20 {
        clients.push((i, s.signed_in(&format!("user{i}")).await?));
    }
    // Pipelines of every client at once, interleaved on the one shared connection.
    for (i, c) in clients.iter_mut() {
        let mut pipeline = Vec::new();
        for args in [vec!["SET", "k", &format!("v{i}")], vec!["INCR", "n"], vec!["GET", "k"]] {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            pipeline.extend(encode(&args));
        }
        c.send_raw(&pipeline).await?;
    }
    for (i, c) in clients.iter_mut() {
        assert_eq!(c.reply().await?, "+OK\r\n");
        assert_eq!(c.reply().await?, ":1\r\n");
        let value = format!("v{i}");
        assert_eq!(c.reply().await?, format!("${}\r\n{value}\r\n", value.len()), "client {i}'s own reply");
    }
    // A pipeline that starts shared and turns to a transaction midway: replies stay in order.
    let (_, c) = &mut clients[0];
    let mut pipeline = Vec::new();
    for args in [&["SET", "a", "1"][..], &["GET", "a"], &["MULTI"], &["INCR", "a"], &["EXEC"], &["GET", "a"]] {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        pipeline.extend(encode(&args));
    }
    c.send_raw(&pipeline).await?;
    for expected in ["+OK\r\n", "$1\r\n1\r\n", "+OK\r\n", "+QUEUED\r\n", "*1\r\n:2\r\n", "$1\r\n2\r\n"] {
        assert_eq!(c.reply().await?, expected);
    }
    // The others carry on, shared, while it holds the one connection of its own.
    let (_, other) = &mut clients[1];
    assert_eq!(other.call(&["GET", "k"]).await?, "$2\r\nv1\r\n");
    assert_eq!(s.redis.command(&[b"GET", b"u:user0:a"])?, b"$1\r\n2\r\n");
    Ok(())
}

#[tokio::test]
async fn a_client_that_leaves_mid_pipeline_disturbs_no_one_on_the_shared_connection() -> Result<()> {
    let s = setup_with("shared_connections = 1").await?;
    let mut stays = s.signed_in("stays").await?;
    assert_eq!(stays.call(&["SET", "k", "mine"]).await?, "+OK\r\n");
    for round in 0..5 {
        let mut leaves = s.signed_in("leaves").await?;
        let mut pipeline = Vec::new();
        for _ in 0..2000 {
            pipeline.extend(encode(&[b"INCR", b"n"]));
        }
        leaves.send_raw(&pipeline).await?;
        drop(leaves);
        // Meanwhile, on the same shared connection, the other client's replies are its own.
        assert_eq!(stays.call(&["GET", "k"]).await?, "$4\r\nmine\r\n", "round {round}");
        assert_eq!(stays.call(&["INCR", "own"]).await?, format!(":{}\r\n", round + 1));
    }
    // Whatever of the pipeline reached Redis ran in order, under the leaver's prefix only.
    let n = s.redis.command(&[b"GET", b"u:leaves:n"])?;
    assert!(n == b"$-1\r\n" || n.starts_with(b"$"), "{n:?}");
    assert_eq!(s.redis.command(&[b"EXISTS", b"u:stays:n"])?, b":0\r\n");
    Ok(())
}

#[tokio::test]
async fn a_pooled_connection_carries_nothing_to_the_next_session() -> Result<()> {
    // One upstream connection: the second session gets the first one's, after RESET.
    let s = setup_with("pool_size = 1").await?;
    let mut first = s.signed_in("olga").await?;
    assert_eq!(first.call(&["SUBSCRIBE", "ch"]).await?, "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    first.send(&["WATCH", "x"]).await?;
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut second = s.signed_in("pete").await?;
    assert_eq!(second.call(&["SET", "x", "1"]).await?, "+OK\r\n", "not in subscribed mode");
    assert_eq!(second.call(&["MULTI"]).await?, "+OK\r\n");
    assert_eq!(second.call(&["INCR", "x"]).await?, "+QUEUED\r\n");
    assert_eq!(second.call(&["EXEC"]).await?, "*1\r\n:2\r\n");
    assert_eq!(s.redis.command(&[b"GET", b"u:pete:x"])?, b"$1\r\n2\r\n");
    Ok(())
}

#[tokio::test]
async fn clients_speak_tls_from_the_first_byte_when_the_gate_has_a_certificate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let (cert, key) = (dir.path().join("gate.crt"), dir.path().join("gate.key"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    let s = setup_with(&format!("tls = {{ cert_file = {:?}, key_file = {:?} }}", cert, key)).await?;
    let token = s.token("quinn", "cache:read cache:write");
    let port = s.addr.port().to_string();
    let cert_path = cert.display().to_string();
    let over_tls = tokio::task::spawn_blocking(move || {
        std::process::Command::new("redis-cli")
            .args(["--tls", "--cacert", &cert_path, "-h", "127.0.0.1", "-p", &port, "--no-auth-warning", "-a", &token])
            .args(["SET", "k", "over tls"])
            .output()
    })
    .await??;
    assert_eq!(String::from_utf8_lossy(&over_tls.stdout).trim(), "OK", "{}", String::from_utf8_lossy(&over_tls.stderr));
    assert_eq!(s.redis.command(&[b"GET", b"u:quinn:k"])?, b"$8\r\nover tls\r\n");
    // A client in the clear gets no answer: the gate waits for a TLS handshake, then gives up.
    let mut plain = s.client().await?;
    plain.send(&["PING"]).await?;
    assert!(plain.closed().await || plain.reply().await.is_err());
    Ok(())
}

/// Every command in the table that takes keys, run by alice through the gate (the samples the
/// table is checked against Redis with; blocking ones wait a moment, not for ever). Redis's
/// MONITOR shows what the gate actually sent, and Redis's own `COMMAND GETKEYS` on each of those
/// names only keys under alice's prefix; nothing of bob's changes.
#[tokio::test]
async fn the_gate_reaches_redis_over_tls_and_checks_its_certificate() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    let (cert, key) = (dir.path().join("redis.crt"), dir.path().join("redis.key"));
    std::fs::write(&cert, generated.cert.pem())?;
    std::fs::write(&key, generated.signing_key.serialize_pem())?;
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let wrong_ca = dir.path().join("other.crt");
    std::fs::write(&wrong_ca, other.cert.pem())?;
    let (redis, tls_port) = {
        let (cert, key) = (cert.clone(), key.clone());
        tokio::task::spawn_blocking(move || ward_testkit::redis::private_tls_server(&cert, &key)).await??
    };
    redis.add_gate_account()?;
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await?;
    let token = issuer.sign(&issuer.claims("rita", &["cache"], json!({ "scope": "cache:read cache:write" })))?;
    for (mode, ca, works) in
        [("verify-full", &cert, true), ("require", &wrong_ca, true), ("verify-full", &wrong_ca, false)]
    {
        let config: ward_config::gate::RedisGateConfig = toml::from_str(&format!(
            r#"
listen = "127.0.0.1:0"
upstream = {{ host = "127.0.0.1", port = {tls_port}, tls = "{mode}", ca_file = {ca:?} }}
roles = [{{ role = "*", account = "svc_cache" }}]
accounts.svc_cache = {{ password = "cache-pw" }}
"#
        ))?;
        let (verifier, clock, _refresher) = verifier(&[trust_fake(&issuer)]).await;
        let (_stop, stop) = stop_signal();
        let gate = ward_redis::gate::start(&config, verifier, clock, |_| None, stop).await?;
        let mut c = Client { stream: TcpStream::connect(gate.running.local_addr()).await?, buf: Vec::new() };
        let reply = c.call(&["AUTH", &token]).await?;
        if works {
            assert_eq!(reply, "+OK\r\n", "{mode}");
            assert_eq!(c.call(&["SET", "k", mode]).await?, "+OK\r\n");
        } else {
            assert!(reply.starts_with("-ERR the cache is not available"), "{mode} with the wrong CA: {reply}");
        }
    }
    assert_eq!(redis.command(&[b"GET", b"u:rita:k"])?, b"$7\r\nrequire\r\n");
    Ok(())
}
