//! The gate as a PostgreSQL client: connect as a service account, authenticate (SCRAM-SHA-256,
//! md5, cleartext or trust), and collect what the server announces until it is ready.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, SCRAM_SHA_256, ScramSha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use ward_config::gate::UpstreamConfig;

use super::cancel::BackendKey;
use super::conn::{Conn, MAX_HANDSHAKE_MESSAGE};
use super::upstream_tls::{BackendStream, UpstreamSecurity};
use crate::protocol::backend::{AuthRequest, parse_auth, parse_backend_key, parse_error, parse_parameter_status};
use crate::protocol::frontend;

/// Where PostgreSQL listens.
#[derive(Clone)]
pub enum Address {
    Tcp {
        host: String,
        port: u16,
        security: UpstreamSecurity,
    },
    /// The socket file itself (`<dir>/.s.PGSQL.<port>`).
    Unix(PathBuf),
}

/// Where and as whom to connect.
#[derive(Clone)]
pub struct Upstream {
    pub address: Address,
    pub database: String,
    pub connect_timeout: Duration,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, connect_timeout: Duration) -> Result<Self, String> {
        let address = match config.unix_socket() {
            Some(path) => Address::Unix(path),
            None => {
                Address::Tcp { host: config.host.clone(), port: config.port, security: UpstreamSecurity::new(config)? }
            }
        };
        Ok(Self { address, database: config.database.clone(), connect_timeout })
    }

    /// A fresh connection, secured as configured, within the connect timeout.
    pub async fn dial(&self) -> io::Result<BackendStream> {
        let timed_out = |what: &str| io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"));
        let limit = self.connect_timeout;
        match &self.address {
            Address::Unix(path) => {
                let unix = tokio::time::timeout(limit, UnixStream::connect(path))
                    .await
                    .map_err(|_| timed_out("connect"))??;
                Ok(BackendStream::Unix(unix))
            }
            Address::Tcp { host, port, security } => {
                let tcp = tokio::time::timeout(limit, TcpStream::connect((host.as_str(), *port)))
                    .await
                    .map_err(|_| timed_out("connect"))??;
                tcp.set_nodelay(true)?;
                tokio::time::timeout(limit, security.secure(tcp)).await.map_err(|_| timed_out("TLS handshake"))?
            }
        }
    }

    /// Sends one message on a connection of its own, as a CancelRequest must be sent.
    pub async fn send_alone(&self, message: &[u8]) -> io::Result<()> {
        match &self.address {
            Address::Unix(path) => write_and_close(UnixStream::connect(path).await?, message).await,
            Address::Tcp { host, port, .. } => {
                write_and_close(TcpStream::connect((host.as_str(), *port)).await?, message).await
            }
        }
    }
}

async fn write_and_close(mut stream: impl AsyncWrite + Unpin, message: &[u8]) -> io::Result<()> {
    stream.write_all(message).await?;
    stream.shutdown().await
}

/// A backend login failure. `Refused` carries PostgreSQL's own SQLSTATE and message, which
/// go to the log; clients see a generic error.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot reach PostgreSQL: {0}")]
    Io(#[from] io::Error),
    #[error("PostgreSQL refused the service account: {code} {message}")]
    Refused { code: String, message: String },
    #[error("PostgreSQL asked for an authentication method the gate does not speak: {0}")]
    UnsupportedAuth(String),
    #[error("PostgreSQL asked for a password, but the service account has none configured")]
    NoPassword,
    #[error("SCRAM exchange failed: {0}")]
    Scram(String),
    #[error("unexpected message {0:?} during login")]
    Unexpected(char),
}

/// An authenticated backend connection, ready for queries.
pub struct Backend {
    pub conn: Conn<BackendStream>,
    pub account: String,
    /// ParameterStatus values as the server reported them at login.
    pub parameters: Vec<(String, String)>,
    /// What a CancelRequest for this connection must carry (none if the server sent none).
    pub key: Option<BackendKey>,
    pub idle_since: Instant,
    /// Transaction pooling: digest of the identity settings known to be in place.
    pub identity_of: Option<[u8; 16]>,
    /// Transaction pooling: a client may have changed session state (SET, LISTEN, …).
    pub dirty: bool,
    /// Transaction pooling: server-side names of the statements prepared on this connection.
    pub prepared: std::collections::HashSet<String>,
}

pub async fn connect(upstream: &Upstream, account: &str, password: Option<&str>) -> Result<Backend, BackendError> {
    let mut conn = Conn::new(upstream.dial().await?);
    let mut out = BytesMut::new();
    frontend::encode_startup(
        &mut out,
        &[("user", account), ("database", &upstream.database), ("application_name", "ward")],
    );
    conn.send(&out).await?;

    let mut scram: Option<ScramSha256> = None;
    loop {
        let frame = conn.read_frame(MAX_HANDSHAKE_MESSAGE).await?;
        match frame.tag {
            b'R' => {
                let request = parse_auth(frame.body).ok_or(BackendError::Unexpected('R'))?;
                let mut out = BytesMut::new();
                match request {
                    AuthRequest::Ok => break,
                    AuthRequest::Cleartext => {
                        frontend::encode_password(&mut out, password.ok_or(BackendError::NoPassword)?)
                    }
                    AuthRequest::Md5 { salt } => {
                        let hash = postgres_protocol::authentication::md5_hash(
                            account.as_bytes(),
                            password.ok_or(BackendError::NoPassword)?.as_bytes(),
                            salt,
                        );
                        frontend::encode_password(&mut out, &hash);
                    }
                    AuthRequest::Sasl { mechanisms } => {
                        if !mechanisms.iter().any(|m| m == SCRAM_SHA_256) {
                            return Err(BackendError::UnsupportedAuth(mechanisms.join(",")));
                        }
                        let s = ScramSha256::new(
                            password.ok_or(BackendError::NoPassword)?.as_bytes(),
                            ChannelBinding::unsupported(),
                        );
                        frontend::encode_sasl_initial(&mut out, SCRAM_SHA_256, s.message());
                        scram = Some(s);
                    }
                    AuthRequest::SaslContinue(data) => {
                        let s = scram.as_mut().ok_or(BackendError::Unexpected('R'))?;
                        s.update(&data).map_err(|e| BackendError::Scram(e.to_string()))?;
                        frontend::encode_sasl_response(&mut out, s.message());
                    }
                    AuthRequest::SaslFinal(data) => {
                        let mut s = scram.take().ok_or(BackendError::Unexpected('R'))?;
                        // Verifies the server's signature: a server that does not know the
                        // password cannot pretend to be PostgreSQL.
                        s.finish(&data).map_err(|e| BackendError::Scram(e.to_string()))?;
                    }
                    AuthRequest::Unsupported(code) => {
                        return Err(BackendError::UnsupportedAuth(format!("code {code}")));
                    }
                }
                if !out.is_empty() {
                    conn.send(&out).await?;
                }
            }
            b'E' => {
                let (code, message) = parse_error(frame.body);
                return Err(BackendError::Refused { code, message });
            }
            b'N' => {}
            other => return Err(BackendError::Unexpected(other as char)),
        }
    }

    let mut parameters = Vec::new();
    let mut key = None;
    loop {
        let frame = conn.read_frame(MAX_HANDSHAKE_MESSAGE).await?;
        match frame.tag {
            b'S' => parameters.extend(parse_parameter_status(frame.body)),
            b'K' => {
                key = parse_backend_key(frame.body)
                    .and_then(|(pid, secret)| Some(BackendKey { pid, secret: secret.try_into().ok()? }));
            }
            b'Z' => break,
            b'E' => {
                let (code, message) = parse_error(frame.body);
                return Err(BackendError::Refused { code, message });
            }
            b'N' => {}
            other => return Err(BackendError::Unexpected(other as char)),
        }
    }
    Ok(Backend {
        conn,
        account: account.to_owned(),
        parameters,
        key,
        idle_since: Instant::now(),
        identity_of: None,
        dirty: false,
        prepared: Default::default(),
    })
}

impl Backend {
    /// Runs a simple-protocol statement and waits for ReadyForQuery; `Ok(status)` is the
    /// transaction status it ends in.
    pub async fn simple_query(&mut self, sql: &str) -> Result<u8, BackendError> {
        let mut out = BytesMut::new();
        crate::protocol::codec::put_frame(&mut out, b'Q', |b| crate::protocol::codec::put_cstr(b, sql));
        self.conn.send(&out).await?;
        self.until_ready().await
    }

    /// Reads until ReadyForQuery, failing on the first ErrorResponse (after draining).
    pub async fn until_ready(&mut self) -> Result<u8, BackendError> {
        let mut failure = None;
        loop {
            let frame = self.conn.read_frame(MAX_HANDSHAKE_MESSAGE).await?;
            match frame.tag {
                b'Z' => {
                    let status = frame.body.first().copied().unwrap_or(b'I');
                    return match failure {
                        Some(e) => Err(e),
                        None => Ok(status),
                    };
                }
                b'E' => {
                    let (code, message) = parse_error(frame.body);
                    failure.get_or_insert(BackendError::Refused { code, message });
                }
                // A setting the server reports (client_encoding, TimeZone, …) changed.
                b'S' => {
                    if let Some((name, value)) = parse_parameter_status(frame.body) {
                        match self.parameters.iter_mut().find(|(n, _)| *n == name) {
                            Some(slot) => slot.1 = value,
                            None => self.parameters.push((name, value)),
                        }
                    }
                }
                _ => {}
            }
        }
    }
}
