//! Redis for tests: the server `WARD_TEST_REDIS_URL` names (`redis://host:port`), or, when none
//! is given, a throwaway `redis-server` this process starts on a free port (nothing saved to
//! disk), stopped when the process exits. Tests touch only keys and users of their own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::pg::free_port;

/// The environment variable naming an existing server.
pub const REDIS_URL_VAR: &str = "WARD_TEST_REDIS_URL";

/// Where the tests' Redis listens.
#[derive(Debug, Clone)]
pub struct RedisServer {
    pub host: String,
    pub port: u16,
}

static SERVER: OnceLock<std::result::Result<RedisServer, String>> = OnceLock::new();

/// The server tests should use, starting a throwaway one if none is given.
pub fn server() -> Result<RedisServer> {
    SERVER
        .get_or_init(|| match std::env::var(REDIS_URL_VAR) {
            Ok(url) if !url.is_empty() => parse_url(&url).map_err(|e| format!("{REDIS_URL_VAR}: {e:#}")),
            _ => start_throwaway(&[]).map_err(|e| format!("{e:#}")),
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

fn parse_url(url: &str) -> Result<RedisServer> {
    let rest = url.strip_prefix("redis://").context("expected redis://host:port")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "6379"));
    Ok(RedisServer { host: host.to_owned(), port: port.parse().context("a port number")? })
}

/// The ACL user gates under test log in as, and its password.
pub const GATE_ACCOUNT: (&str, &str) = ("svc_cache", "cache-pw");

/// A `redis-server` of this test's own (for tests that change server-wide state, such as ACL
/// users), stopped when the process exits.
pub fn private_server() -> Result<RedisServer> {
    start_throwaway(&[])
}

/// A private server that also speaks TLS (from the first byte) with `cert` and `key`, on the
/// returned port; the server's plain port stays open for the test's own set-up commands.
pub fn private_tls_server(cert: &std::path::Path, key: &std::path::Path) -> Result<(RedisServer, u16)> {
    let tls_port = free_port()?;
    let args = [
        "--tls-port".to_owned(),
        tls_port.to_string(),
        "--tls-cert-file".to_owned(),
        cert.display().to_string(),
        "--tls-key-file".to_owned(),
        key.display().to_string(),
        "--tls-ca-cert-file".to_owned(),
        cert.display().to_string(),
        "--tls-auth-clients".to_owned(),
        "no".to_owned(),
    ];
    Ok((start_throwaway(&args)?, tls_port))
}

fn start_throwaway(extra: &[String]) -> Result<RedisServer> {
    let dir = tempfile::Builder::new().prefix("ward-testredis-").tempdir()?.keep();
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(extra)
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting redis-server (install redis-server)")?;
    // A watchdog stops the server and removes its directory when this process exits, however
    // it exits.
    let script = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill {child}; rm -rf '{dir}'",
        parent = std::process::id(),
        child = child.id(),
        dir = dir.display(),
    );
    Command::new("bash").arg("-c").arg(script).stdin(Stdio::null()).stdout(Stdio::null()).spawn()?;
    let server = RedisServer { host: "127.0.0.1".into(), port };
    for _ in 0..100 {
        if server.command(&[b"PING"]).is_ok_and(|reply| reply == b"+PONG\r\n") {
            return Ok(server);
        }
        // Once per test process, before any test uses the server: waiting for real is the point.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("redis-server on port {port} did not answer")
}

impl RedisServer {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Adds [`GATE_ACCOUNT`], with every key, channel and command (the gate decides what its
    /// clients may do).
    pub fn add_gate_account(&self) -> Result<()> {
        let (user, password) = GATE_ACCOUNT;
        let password = format!(">{password}");
        let acl: [&[u8]; 8] = [b"ACL", b"SETUSER", user.as_bytes(), b"on", password.as_bytes(), b"~*", b"&*", b"+@all"];
        anyhow::ensure!(self.command(&acl)? == b"+OK\r\n", "ACL SETUSER {user}");
        Ok(())
    }

    /// Sends one command on a connection of its own and returns the raw reply (one value,
    /// whole: as many bytes as its RESP framing says).
    pub fn command(&self, args: &[&[u8]]) -> Result<Vec<u8>> {
        let mut stream = TcpStream::connect(self.addr())?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(&encode(args))?;
        read_value(&mut stream)
    }
}

/// `args` as a RESP array of bulk strings.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one whole RESP value from `stream`.
pub fn read_value(stream: &mut impl Read) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some(len)) = ward_redis::protocol::frame_len(&buf, &ward_redis::protocol::Limits::SERVER) {
            buf.truncate(len);
            return Ok(buf);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the connection closed before a whole reply");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The bulk strings of a flat array reply, in order.
pub fn bulk_strings(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(end) = reply.get(at..).and_then(|r| r.windows(2).position(|w| w == b"\r\n")).map(|i| at + i) {
        let (kind, line) = (reply[at], std::str::from_utf8(&reply[at + 1..end]).unwrap_or_default());
        at = end + 2;
        if kind == b'$'
            && let Ok(len) = line.parse::<usize>()
            && let Some(value) = reply.get(at..at + len)
        {
            out.push(value.to_vec());
            at += len + 2;
        }
    }
    out
}
