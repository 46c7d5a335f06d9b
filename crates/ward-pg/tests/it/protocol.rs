//! Bad input at the protocol level, over a raw socket: every case gets a proper
//! ErrorResponse (or the documented single-byte answer) and nothing hangs.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ward_pg::protocol::backend::parse_error;
use ward_pg::protocol::codec::take_frame;
use ward_pg::protocol::frontend::{GSSENC_REQUEST, SSL_REQUEST, encode_startup};

use crate::setup_with;

/// A raw protocol client: a socket and what was read from it but not yet taken.
struct Raw {
    stream: TcpStream,
    buf: BytesMut,
}

impl Raw {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        Self { stream: TcpStream::connect(addr).await.unwrap(), buf: BytesMut::new() }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    async fn read_exact(&mut self, out: &mut [u8]) -> std::io::Result<()> {
        while self.buf.len() < out.len() {
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
        let taken = self.buf.split_to(out.len());
        out.copy_from_slice(&taken);
        Ok(())
    }

    async fn read_to_end(&mut self, out: &mut Vec<u8>) -> std::io::Result<usize> {
        out.extend_from_slice(&self.buf.split());
        self.stream.read_to_end(out).await
    }
}

async fn read_frame(raw: &mut Raw) -> Option<(u8, BytesMut)> {
    loop {
        if let Ok(Some(frame)) = take_frame(&mut raw.buf, 1 << 20) {
            return Some((frame.tag, frame.body));
        }
        let n = tokio::time::timeout(Duration::from_secs(10), raw.stream.read_buf(&mut raw.buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
    }
}

async fn expect_error(stream: &mut Raw, code: &str) -> String {
    let (tag, body) = read_frame(stream).await.expect("an answer");
    assert_eq!(tag, b'E');
    let (sqlstate, message) = parse_error(body);
    assert_eq!(sqlstate, code, "{message}");
    message
}

fn special(code: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&8i32.to_be_bytes());
    b[4..].copy_from_slice(&code.to_be_bytes());
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_startup_and_unknown_versions_are_refused() {
    let (_, gate) = setup_with(|_| {}).await;
    let mut s = Raw::connect(gate.addr).await;
    s.write_all(&20_000i32.to_be_bytes()).await.unwrap();
    expect_error(&mut s, "08P01").await;

    let mut s = Raw::connect(gate.addr).await;
    let mut packet = BytesMut::new();
    packet.put_i32(9);
    packet.put_i32(2 << 16);
    packet.put_u8(0);
    s.write_all(&packet).await.unwrap();
    let message = expect_error(&mut s, "08P01").await;
    assert!(message.contains("unsupported frontend protocol 2.0"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_and_gss_requests_are_declined_then_startup_continues() {
    let (_, gate) = setup_with(|_| {}).await;
    let mut s = Raw::connect(gate.addr).await;
    for code in [GSSENC_REQUEST, SSL_REQUEST] {
        s.write_all(&special(code)).await.unwrap();
        let mut answer = [0u8; 1];
        s.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"N");
    }
    let mut out = BytesMut::new();
    encode_startup(&mut out, &[("user", "alice"), ("database", "app")]);
    s.write_all(&out).await.unwrap();
    let (tag, body) = read_frame(&mut s).await.unwrap();
    assert_eq!((tag, &body[..]), (b'R', &[0, 0, 0, 3][..]), "asks for the token as a cleartext password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newer_protocol_minor_versions_are_negotiated_down() {
    let (_, gate) = setup_with(|_| {}).await;
    let mut s = Raw::connect(gate.addr).await;
    let mut out = BytesMut::new();
    encode_startup(&mut out, &[("user", "alice"), ("_pq_.test_option", "1")]);
    out[7] = 2; // protocol 3.2
    s.write_all(&out).await.unwrap();
    let (tag, body) = read_frame(&mut s).await.unwrap();
    assert_eq!(tag, b'v');
    assert_eq!(&body[..8], &[0, 0, 0, 0, 0, 0, 0, 1]);
    let (tag, body) = read_frame(&mut s).await.unwrap();
    assert_eq!(tag, b'R', "{:?}", parse_error(body));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_missing_user_and_garbage_passwords() {
    let (_, gate) = setup_with(|_| {}).await;
    let mut s = Raw::connect(gate.addr).await;
    let mut out = BytesMut::new();
    encode_startup(&mut out, &[("user", "alice"), ("replication", "database")]);
    s.write_all(&out).await.unwrap();
    assert!(expect_error(&mut s, "08P01").await.contains("replication"));

    let mut s = Raw::connect(gate.addr).await;
    let mut out = BytesMut::new();
    encode_startup(&mut out, &[("database", "app")]);
    s.write_all(&out).await.unwrap();
    expect_error(&mut s, "28000").await;

    // A message that is not a password where a password is due.
    let mut s = Raw::connect(gate.addr).await;
    let mut out = BytesMut::new();
    encode_startup(&mut out, &[("user", "alice")]);
    s.write_all(&out).await.unwrap();
    read_frame(&mut s).await.unwrap();
    s.write_all(&[b'Q', 0, 0, 0, 5, 0]).await.unwrap();
    expect_error(&mut s, "08P01").await;

    // An oversize password message.
    let mut s = Raw::connect(gate.addr).await;
    let mut out = BytesMut::new();
    encode_startup(&mut out, &[("user", "alice")]);
    s.write_all(&out).await.unwrap();
    read_frame(&mut s).await.unwrap();
    s.write_all(&[b'p', 0, 0x10, 0, 0]).await.unwrap();
    expect_error(&mut s, "08P01").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_timed_out() {
    let (_, gate) = setup_with(|c| c.auth_timeout = Duration::from_millis(500)).await;
    let mut s = Raw::connect(gate.addr).await;
    s.write_all(&[0, 0]).await.unwrap(); // half a length, then nothing
    let message = expect_error(&mut s, "08006").await;
    assert!(message.contains("timed out"), "{message}");
    let mut rest = Vec::new();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest)).await.unwrap().unwrap(),
        0,
        "closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_client_limit_are_refused() {
    let (_, gate) = setup_with(|c| c.max_client_connections = 1).await;
    let _first = Raw::connect(gate.addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = Raw::connect(gate.addr).await;
    expect_error(&mut second, "53300").await;
}
