//! TLS toward clients: libpq's default `sslmode=prefer` gets TLS when the gate has a
//! certificate, `verify-full` checks it, and bytes smuggled ahead of the handshake are refused.

use std::process::Command;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use ward_config::gate::ServerTlsConfig;

use crate::{run, setup_with};

fn certificate(dir: &std::path::Path) -> ServerTlsConfig {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let (cert_file, key_file) = (dir.join("gate.crt"), dir.join("gate.key"));
    std::fs::write(&cert_file, generated.cert.pem()).unwrap();
    std::fs::write(&key_file, generated.signing_key.serialize_pem()).unwrap();
    ServerTlsConfig { cert_file, key_file }
}

async fn psql_tls(port: u16, sslmode: &str, rootcert: &std::path::Path, token: &str) -> (bool, String) {
    let mut cmd = Command::new("psql");
    cmd.arg(format!(
        "host=localhost hostaddr=127.0.0.1 port={port} dbname=app user=alice sslmode={sslmode} sslrootcert={}",
        rootcert.display()
    ))
    .args(["-X", "-A", "-t", "-c", "select current_setting('app.user_id')"])
    .env("PGPASSWORD", token);
    let out = run(cmd).await;
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout).trim(), String::from_utf8_lossy(&out.stderr)),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_get_tls_and_can_verify_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certificate(dir.path());
    let cert = tls.cert_file.clone();
    let (issuer, gate) = setup_with(move |c| c.tls = Some(tls)).await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    for mode in ["require", "verify-full"] {
        let (ok, out) = psql_tls(gate.addr.port(), mode, &cert, &token).await;
        assert!(ok, "{mode}: {out}");
        assert_eq!(out, "alice");
    }
    // A certificate the client does not trust is refused by the client.
    let elsewhere = tempfile::tempdir().unwrap();
    let other = certificate(elsewhere.path());
    let (ok, out) = psql_tls(gate.addr.port(), "verify-full", &other.cert_file, &token).await;
    assert!(!ok, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_certificate_tls_is_declined() {
    let dir = tempfile::tempdir().unwrap();
    let (issuer, gate) = setup_with(|_| {}).await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let (ok, out) = psql_tls(gate.addr.port(), "require", &dir.path().join("none.crt"), &token).await;
    assert!(!ok && out.contains("does not support SSL"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_sent_ahead_of_the_tls_handshake_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tls = certificate(dir.path());
    let (_, gate) = setup_with(move |c| c.tls = Some(tls)).await;
    let mut s = tokio::net::TcpStream::connect(gate.addr).await.unwrap();
    let mut out = BytesMut::new();
    ward_pg::protocol::frontend::encode_ssl_request(&mut out);
    ward_pg::protocol::frontend::encode_startup(&mut out, &[("user", "alice")]);
    s.write_all(&out).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer.first(), Some(&b'E'), "no 'S': the injected startup is not trusted");
    assert!(String::from_utf8_lossy(&answer).contains("unencrypted data after SSL request"));
}
