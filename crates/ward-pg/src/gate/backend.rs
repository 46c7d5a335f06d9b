//! The gate as a PostgreSQL client: connect as a service account, authenticate (SCRAM-SHA-256,
//! md5, cleartext or trust), and collect what the server announces until it is ready.

use crate::protocol::tag::{backend as server, status};
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
use super::context::IdentityDigest;
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
    pub fn new(config: &UpstreamConfig, connect_timeout: Duration) -> Result<Self, ward_gate::GateError> {
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
    #[error("the backend did not answer in time")]
    Timeout,
    #[error("the backend is still inside a transaction")]
    NotIdle,
}

/// The answers to a batch the gate sent on its own (a reset, the identity statement), judged
/// without a socket: done at the `readies`-th ReadyForQuery, and clean only if no
/// ErrorResponse came after the first `skip_errors_until` ReadyForQuery messages (errors
/// before those belong to a client that left) and the last one says idle. An identity is in
/// place only when its batch ends clean: an error means `set_config` did not run, and a
/// non-idle status means a transaction is open that may yet roll it back.
pub struct OwnBatch {
    readies: usize,
    skip_errors_until: usize,
    seen: usize,
    failure: Option<BackendError>,
}

impl OwnBatch {
    pub fn new(readies: usize, skip_errors_until: usize) -> Self {
        Self { readies, skip_errors_until, seen: 0, failure: None }
    }

    /// Whether a message of this kind matters to the verdict (others are skipped unread).
    pub fn reads(tag: u8) -> bool {
        matches!(tag, server::READY_FOR_QUERY | server::ERROR_RESPONSE | server::PARAMETER_STATUS)
    }

    /// The verdict, once the last ReadyForQuery is in.
    pub fn on_server_message(&mut self, tag: u8, body: BytesMut) -> Option<Result<(), BackendError>> {
        match tag {
            server::READY_FOR_QUERY => {
                self.seen += 1;
                if self.seen < self.readies {
                    return None;
                }
                let status = body.first().copied().unwrap_or(status::IDLE);
                Some(match self.failure.take() {
                    Some(e) => Err(e),
                    None if status != status::IDLE => Err(BackendError::NotIdle),
                    None => Ok(()),
                })
            }
            server::ERROR_RESPONSE if self.seen >= self.skip_errors_until => {
                let (code, message) = parse_error(body);
                self.failure.get_or_insert(BackendError::Refused { code, message });
                None
            }
            _ => None,
        }
    }
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
    /// The identity whose clients this connection last served; `None` only for a clean slate
    /// (fresh, or after `DISCARD ALL`). A different identity gets it only after a full reset.
    pub holds: Option<IdentityDigest>,
    /// A client of `holds` may have changed session state (SET, LISTEN, …): its next client
    /// of the same identity gets a reset first.
    pub dirty: bool,
    /// Server-side names of the statements the gate prepared on this connection.
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
            server::AUTHENTICATION => {
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
            server::ERROR_RESPONSE => {
                let (code, message) = parse_error(frame.body);
                return Err(BackendError::Refused { code, message });
            }
            server::NOTICE_RESPONSE => {}
            other => return Err(BackendError::Unexpected(other as char)),
        }
    }

    let mut parameters = Vec::new();
    let mut key = None;
    loop {
        let frame = conn.read_frame(MAX_HANDSHAKE_MESSAGE).await?;
        match frame.tag {
            server::PARAMETER_STATUS => parameters.extend(parse_parameter_status(frame.body)),
            server::BACKEND_KEY_DATA => {
                key = parse_backend_key(frame.body)
                    .and_then(|(pid, secret)| Some(BackendKey { pid, secret: secret.try_into().ok()? }));
            }
            server::READY_FOR_QUERY => break,
            server::ERROR_RESPONSE => {
                let (code, message) = parse_error(frame.body);
                return Err(BackendError::Refused { code, message });
            }
            server::NOTICE_RESPONSE => {}
            other => return Err(BackendError::Unexpected(other as char)),
        }
    }
    Ok(Backend {
        conn,
        account: account.to_owned(),
        parameters,
        key,
        idle_since: Instant::now(),
        holds: None,
        dirty: false,
        prepared: Default::default(),
    })
}

impl Backend {
    /// A backend whose socket is one end of a pair (the other end returned), for tests of
    /// what happens on a backend without a server behind it.
    #[cfg(test)]
    pub(crate) fn for_test(holds: Option<IdentityDigest>) -> (Self, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap_or_else(|e| panic!("a socket pair: {e}"));
        let backend = Self {
            conn: Conn::new(BackendStream::Unix(ours)),
            account: "svc".into(),
            parameters: Vec::new(),
            key: None,
            idle_since: Instant::now(),
            holds,
            dirty: false,
            prepared: Default::default(),
        };
        (backend, theirs)
    }

    /// Sends `batch` and reads its answers until the `readies`-th ReadyForQuery, within
    /// `deadline`, judged by [`OwnBatch`]. Messages other than ErrorResponse, ParameterStatus
    /// and ReadyForQuery are read past without being kept whole.
    pub async fn exchange(
        &mut self,
        batch: &[u8],
        readies: usize,
        skip_errors_until: usize,
        deadline: Duration,
    ) -> Result<(), BackendError> {
        let exchange = async {
            self.conn.send(batch).await?;
            let mut answers = OwnBatch::new(readies, skip_errors_until);
            loop {
                let (tag, len) = self.conn.read_header().await?;
                if !OwnBatch::reads(tag) {
                    self.conn.skip(len).await?;
                    continue;
                }
                let body = self.conn.read_body(len, MAX_HANDSHAKE_MESSAGE).await?;
                if tag == server::PARAMETER_STATUS {
                    self.note_parameter(body);
                } else if let Some(verdict) = answers.on_server_message(tag, body) {
                    return verdict;
                }
            }
        };
        tokio::time::timeout(deadline, exchange).await.map_err(|_| BackendError::Timeout)?
    }

    /// A setting the server reports (client_encoding, TimeZone, …) changed.
    fn note_parameter(&mut self, body: BytesMut) {
        if let Some((name, value)) = parse_parameter_status(body) {
            match self.parameters.iter_mut().find(|(n, _)| *n == name) {
                Some(slot) => slot.1 = value,
                None => self.parameters.push((name, value)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(status: u8) -> BytesMut {
        BytesMut::from(&[status][..])
    }

    fn error() -> BytesMut {
        BytesMut::from(&b"C42501\0Mpermission denied\0\0"[..])
    }

    #[test]
    fn an_identity_is_proven_only_by_a_clean_idle_end_of_its_own_batch() {
        // Reset and identity statement: two ReadyForQuery, both clean.
        let mut batch = OwnBatch::new(2, 0);
        assert!(batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE)).is_none());
        assert!(matches!(batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE)), Some(Ok(()))));

        // An error anywhere, even followed by an idle ReadyForQuery: not proven.
        let mut batch = OwnBatch::new(2, 0);
        batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE));
        assert!(batch.on_server_message(server::ERROR_RESPONSE, error()).is_none());
        let verdict = batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE));
        assert!(matches!(verdict, Some(Err(BackendError::Refused { ref code, .. })) if code == "42501"));

        // No error, but a transaction left open (it could still roll the settings back).
        let mut batch = OwnBatch::new(1, 0);
        let verdict = batch.on_server_message(server::READY_FOR_QUERY, ready(status::IN_TRANSACTION));
        assert!(matches!(verdict, Some(Err(BackendError::NotIdle))));
        let mut batch = OwnBatch::new(1, 0);
        let verdict = batch.on_server_message(server::READY_FOR_QUERY, ready(status::FAILED));
        assert!(matches!(verdict, Some(Err(BackendError::NotIdle))));
    }

    #[test]
    fn a_released_backend_forgives_the_errors_of_the_client_that_left() {
        // Session release: Sync (whose answer may carry the client's error), then the reset.
        let mut batch = OwnBatch::new(2, 1);
        batch.on_server_message(server::ERROR_RESPONSE, error());
        batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE));
        assert!(matches!(batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE)), Some(Ok(()))));
        // But not an error of the reset itself.
        let mut batch = OwnBatch::new(2, 1);
        batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE));
        batch.on_server_message(server::ERROR_RESPONSE, error());
        assert!(matches!(batch.on_server_message(server::READY_FOR_QUERY, ready(status::IDLE)), Some(Err(_))));
    }

    #[test]
    fn only_the_messages_that_decide_are_read() {
        assert!(OwnBatch::reads(server::READY_FOR_QUERY) && OwnBatch::reads(server::ERROR_RESPONSE));
        assert!(!OwnBatch::reads(server::DATA_ROW) && !OwnBatch::reads(server::NOTICE_RESPONSE));
    }
}
