//! Connections to Redis, logged in as a service account: dialled (TLS from the first byte when
//! configured), `HELLO <protocol> AUTH <user> <password>`, `SELECT <database>`; pooled per
//! account, each client session holding one for its whole life. A connection goes back to the
//! pool only after `RESET` (which drops transactions, watches, subscriptions, the selected
//! database and the login) and a fresh login come back as expected; otherwise it is closed.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use ward_gate::stream::UpstreamStream;
use ward_gate::tls::UpstreamTlsPolicy;

use crate::protocol::{Limits, frame_len};

/// How to reach Redis and log in.
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub tls: UpstreamTlsPolicy,
    pub database: u32,
    pub connect_timeout: Duration,
}

/// One service account's login.
#[derive(Clone)]
pub struct Login {
    pub user: String,
    pub password: Option<String>,
}

/// A logged-in connection and what has been read from it.
pub struct Connection {
    pub stream: UpstreamStream,
    pub buf: BytesMut,
    /// The RESP version the connection speaks (2 or 3).
    pub protocol: u8,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("cannot reach Redis: {0}")]
    Io(#[from] io::Error),
    #[error("Redis refused the service account: {0}")]
    Refused(String),
    #[error("no upstream connection became free in time")]
    QueueTimeout,
    #[error("Redis did not answer in time")]
    Timeout,
}

impl Upstream {
    /// A fresh connection, logged in, speaking `protocol`.
    pub async fn connect(&self, login: &Login, protocol: u8) -> Result<Connection, UpstreamError> {
        let dial = async {
            let tcp = TcpStream::connect((self.host.as_str(), self.port)).await?;
            tcp.set_nodelay(true)?;
            self.tls.handshake(tcp).await
        };
        let stream = tokio::time::timeout(self.connect_timeout, dial).await.map_err(|_| UpstreamError::Timeout)??;
        let mut conn = Connection { stream, buf: BytesMut::with_capacity(16 * 1024), protocol };
        self.log_in(&mut conn, login, protocol).await?;
        Ok(conn)
    }

    /// `HELLO` with the login, and the database: the one batch that makes a connection ours.
    async fn log_in(&self, conn: &mut Connection, login: &Login, protocol: u8) -> Result<(), UpstreamError> {
        let protocol_arg = protocol.to_string();
        let mut hello: Vec<&[u8]> = vec![b"HELLO", protocol_arg.as_bytes()];
        if let Some(password) = &login.password {
            hello.extend([&b"AUTH"[..], login.user.as_bytes(), password.as_bytes()]);
        }
        let mut batch = command(&hello);
        let database = self.database.to_string();
        if self.database != 0 {
            batch.extend_from_slice(&command(&[b"SELECT", database.as_bytes()]));
        }
        conn.stream.write_all(&batch).await?;
        let replies = if self.database != 0 { 2 } else { 1 };
        for _ in 0..replies {
            let reply = tokio::time::timeout(self.connect_timeout, conn.read_value())
                .await
                .map_err(|_| UpstreamError::Timeout)??;
            if reply.first() == Some(&b'-') {
                // The message names what failed, never the password.
                return Err(UpstreamError::Refused(String::from_utf8_lossy(&reply).trim().to_owned()));
            }
        }
        conn.protocol = protocol;
        Ok(())
    }

    /// `RESET`, then the login again: a connection fit for the next session.
    pub async fn reset(&self, conn: &mut Connection, login: &Login) -> Result<(), UpstreamError> {
        conn.stream.write_all(&command(&[b"RESET"])).await?;
        let reply = tokio::time::timeout(self.connect_timeout, conn.read_value())
            .await
            .map_err(|_| UpstreamError::Timeout)??;
        if reply != b"+RESET\r\n" {
            return Err(UpstreamError::Refused("RESET was not answered with +RESET".into()));
        }
        let protocol = conn.protocol;
        self.log_in(conn, login, protocol).await
    }
}

impl Connection {
    /// Reads one whole value.
    pub async fn read_value(&mut self) -> io::Result<Vec<u8>> {
        let mut value = Vec::new();
        self.read_value_into(&mut value).await?;
        Ok(value)
    }

    /// Reads one whole value onto the end of `out`.
    pub async fn read_value_into(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            match frame_len(&self.buf, &Limits::SERVER) {
                Ok(Some(len)) => {
                    out.extend_from_slice(&self.buf[..len]);
                    self.buf.advance(len);
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
            if self.stream.read_buf(&mut self.buf).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }
}

/// A command as a RESP array of bulk strings.
pub fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = BytesMut::new();
    crate::protocol::encode::array(&mut out, args.len());
    for arg in args {
        crate::protocol::encode::bulk(&mut out, arg);
    }
    out.to_vec()
}

/// One account's connections: at most `size` at once, idle ones kept for the next session.
pub struct Pool {
    upstream: Arc<Upstream>,
    login: Login,
    permits: Arc<Semaphore>,
    idle: std::sync::Mutex<Vec<Connection>>,
    queue_timeout: Duration,
}

/// A connection on loan, with its place in the pool.
pub struct Lease {
    pub conn: Connection,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(upstream: Arc<Upstream>, login: Login, size: usize, queue_timeout: Duration) -> Self {
        Self {
            upstream,
            login,
            permits: Arc::new(Semaphore::new(size)),
            idle: std::sync::Mutex::default(),
            queue_timeout,
        }
    }

    /// A connection speaking `protocol`: an idle one (switched with `HELLO` if it speaks the
    /// other version), or a new one.
    pub async fn acquire(&self, protocol: u8) -> Result<Lease, UpstreamError> {
        let permit = tokio::time::timeout(self.queue_timeout, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| UpstreamError::QueueTimeout)?
            .map_err(|_| UpstreamError::QueueTimeout)?;
        let idle = ward_core::sync::lock(&self.idle).pop();
        // An idle connection Redis closed meanwhile (a restart, `timeout`) is replaced.
        let conn = match idle.filter(|c| c.buf.is_empty() && c.stream.idle_and_open()) {
            Some(conn) if conn.protocol == protocol => conn,
            Some(mut conn) => match self.upstream.log_in(&mut conn, &self.login, protocol).await {
                Ok(()) => conn,
                Err(_) => self.upstream.connect(&self.login, protocol).await?,
            },
            None => self.upstream.connect(&self.login, protocol).await?,
        };
        Ok(Lease { conn, _permit: permit })
    }

    /// Takes a connection back after a session: reset and logged in again, or closed.
    pub async fn release(&self, lease: Lease) {
        let Lease { mut conn, _permit } = lease;
        conn.buf.clear();
        if self.upstream.reset(&mut conn, &self.login).await.is_ok() && conn.buf.is_empty() {
            ward_core::sync::lock(&self.idle).push(conn);
        }
    }
}
