//! The message-by-message loop every session runs, in three configurations: session
//! pooling (one backend, kept), session pooling with statement audit (the same, with a line
//! per statement), and transaction pooling (a backend per transaction, back to the pool at
//! every idle ReadyForQuery). Messages are handled whole, in place, because some must be
//! rewritten or answered here:
//!
//! - On assignment the backend is set up for this client's identity before any message of
//!   the client's reaches it ([`assign`]): a reset when it last served another identity, the
//!   identity statement with a Sync of its own, and its ReadyForQuery awaited.
//! - Named prepared statements are renamed by content and prepared again on a backend that
//!   lacks them (see [`super::statements`]); answers the client expects for work skipped
//!   here (ParseComplete, CloseComplete) are simulated by the gate in their turn.
//! - Every message sent leaves what the server owes for it in an [`expect::ExpectQueue`], so
//!   each server message is forwarded, ignored, or preceded by the gate's own answers.
//!
//! - [`expect`] — the expectation queue, sans IO.
//! - [`assign`] — taking a backend for this client, and giving it back.
//! - [`client_messages`] — where each client message goes.
//! - [`server_messages`] — where each server message goes.
//! - [`large`] — messages too long to hold, relayed as they arrive.

pub mod assign;
pub mod client_messages;
pub mod expect;
#[cfg(test)]
mod interleavings;
pub mod large;
pub mod server_messages;

use std::time::Duration;

use bytes::BytesMut;
use ward_gate::watch::{IdleWatch, after};

use self::expect::ExpectQueue;
use super::audit::{StatementAudit, StatementTrail};
use super::cancel::Registration;
use super::conn::{Conn, Incoming, Stream, frame_error};
use super::context::SessionIdentity;
use super::pool::{AcquireError, Lease, Pool};
use super::statements::ClientStatements;
use crate::protocol::backend::PgError;
use crate::protocol::codec::FrameError;
use crate::protocol::tag::frontend as client_tag;

/// Messages longer than this, header included, are relayed as they arrive instead of being
/// held whole.
pub const STREAM_ABOVE: usize = 256 * 1024;
/// PostgreSQL's own bound on a message, for what the server sends.
const SERVER_MAX: usize = 1 << 30;

/// How the backend is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// One backend for the whole session, taken before the client is greeted.
    Session,
    /// A backend per transaction.
    Transaction,
}

/// The loop's configuration, from the gate's.
pub struct LoopSettings {
    pub sharing: Sharing,
    /// Largest message a client may send.
    pub max_message: usize,
    /// Run on a backend that served this identity and may have changed session state.
    pub same_identity_reset: String,
    /// How long a backend gets to answer its reset and identity statement.
    pub reset_timeout: Duration,
    pub client_idle_timeout: Duration,
    /// When the session must end because its token expires (`close_on_expiry`).
    pub expires_in: Option<Duration>,
}

/// How a session ended: the audit outcome, and what the client is told.
#[derive(Debug)]
pub enum SessionEnd {
    /// Terminate, or the connection closed between messages.
    ClientLeft,
    /// Writing to the client failed.
    ClientFailed,
    /// The backend closed, failed, or spoke something that is not the protocol.
    BackendFailed,
    /// A statement the gate sent for the client's sake failed.
    SetupFailed,
    /// The token expired (`close_on_expiry`).
    TokenExpired,
    /// The client kept the server waiting longer than `client_idle_timeout`.
    ClientIdle,
    /// A message over `max_message_size` (or one whose length is not the protocol's).
    BadMessage(PgError),
    /// No backend could be had.
    NoBackend(AcquireError),
}

impl SessionEnd {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClientLeft => "ClientLeft",
            Self::ClientFailed => "ClientFailed",
            Self::BackendFailed => "BackendFailed",
            Self::SetupFailed => "SetupFailed",
            Self::TokenExpired => "TokenExpired",
            Self::ClientIdle => "ClientIdle",
            Self::BadMessage(_) => "BadMessage",
            Self::NoBackend(_) => "NoBackend",
        }
    }

    /// What the client is told before the connection closes, if anything.
    pub fn error(&self) -> Option<PgError> {
        match self {
            Self::ClientLeft | Self::ClientFailed => None,
            Self::BackendFailed | Self::SetupFailed => Some(PgError::fatal("08006", "the database connection failed")),
            Self::TokenExpired => Some(PgError::fatal("28000", "the access token of this session has expired")),
            // SQLSTATE 57P05, as PostgreSQL's own idle_session_timeout says it.
            Self::ClientIdle => Some(PgError::fatal("57P05", "terminating connection due to idle-session timeout")),
            Self::BadMessage(error) => Some(error.clone()),
            Self::NoBackend(e) => Some(e.client_error()),
        }
    }
}

/// A backend serving this client, and what it owes.
pub struct Assignment {
    pub lease: Lease,
    /// The last ReadyForQuery said idle, outside any transaction.
    pub idle: bool,
    pub expect: ExpectQueue,
    /// Prepared-statement bookkeeping is uncertain (the client deallocated by SQL): close
    /// the backend instead of pooling it.
    pub discard: bool,
}

impl Assignment {
    /// Nothing owed either way, outside a transaction: the client is the one to speak.
    pub fn settled(&self) -> bool {
        self.idle && self.expect.is_empty()
    }
}

/// What a batch of server messages leads to.
#[derive(Debug)]
pub enum Step {
    Continue,
    /// The backend is settled: a transaction-pooled one goes back to the pool.
    Settled,
    End(SessionEnd),
}

/// One session's loop: its backend, if it holds one, and buffers reused across transactions
/// so that one costs no allocation.
pub struct FramedLoop<'a> {
    settings: &'a LoopSettings,
    pool: &'a Pool,
    who: &'a SessionIdentity,
    cancel: &'a Registration<'a>,
    assigned: Option<Assignment>,
    /// An emptied queue kept from the last assignment.
    spare: ExpectQueue,
    statements: ClientStatements,
    audit: Option<(StatementAudit, StatementTrail<'a>)>,
    to_backend: BytesMut,
    to_client: BytesMut,
    idle: IdleWatch,
    /// Bytes of the client's messages.
    pub bytes_in: u64,
    /// Bytes sent to the client.
    pub bytes_out: u64,
}

impl<'a> FramedLoop<'a> {
    pub fn new(
        settings: &'a LoopSettings,
        pool: &'a Pool,
        who: &'a SessionIdentity,
        cancel: &'a Registration<'a>,
        audit: Option<StatementTrail<'a>>,
    ) -> Self {
        Self {
            settings,
            pool,
            who,
            cancel,
            assigned: None,
            spare: ExpectQueue::default(),
            statements: ClientStatements::default(),
            audit: audit.map(|trail| (StatementAudit::default(), trail)),
            to_backend: BytesMut::new(),
            to_client: BytesMut::new(),
            idle: IdleWatch::new(settings.client_idle_timeout),
            bytes_in: 0,
            bytes_out: 0,
        }
    }

    /// The parameters to greet the client with: its backend's under session sharing (taken
    /// now, so a client that cannot have one is refused before it is greeted), else the
    /// pool's.
    pub async fn prepare(&mut self) -> Result<Vec<(String, String)>, AcquireError> {
        match self.settings.sharing {
            Sharing::Session => {
                self.take_backend().await?;
                Ok(self.assigned.as_ref().map(|a| a.lease.backend.parameters.clone()).unwrap_or_default())
            }
            Sharing::Transaction => self.pool.startup_parameters().await,
        }
    }

    /// Serves the client until the session ends, then gives the backend back as its state
    /// allows.
    pub async fn run<S: Stream>(&mut self, client: &mut Conn<S>) -> SessionEnd {
        let end = self.serve(client).await;
        self.finish(&end).await;
        end
    }

    async fn serve<S: Stream>(&mut self, client: &mut Conn<S>) -> SessionEnd {
        let expiry = after(self.settings.expires_in);
        tokio::pin!(expiry);
        loop {
            self.idle.touch(self.assigned.as_ref().is_none_or(Assignment::settled));
            let max_message = self.settings.max_message;
            let step = tokio::select! {
                () = self.idle.expired() => return SessionEnd::ClientIdle,
                () = &mut expiry => return SessionEnd::TokenExpired,
                read = client.next_message(max_message, STREAM_ABOVE) => match read {
                    Ok(incoming) => self.on_client_input(incoming, client).await,
                    Err(e) => return client_read_failure(&e),
                },
                read = next_server_message(&mut self.assigned) => match read {
                    Ok(incoming) => self.on_server_input(incoming, client).await,
                    Err(_) => return SessionEnd::BackendFailed,
                },
            };
            match step {
                Step::Continue => {}
                Step::Settled => {
                    if self.settings.sharing == Sharing::Transaction {
                        self.put_back();
                    }
                }
                Step::End(end) => return end,
            }
            if let Err(end) = self.flush(client).await {
                return end;
            }
        }
    }

    /// Sends what the client is owed, in one write.
    async fn flush<S: Stream>(&mut self, client: &mut Conn<S>) -> Result<(), SessionEnd> {
        if self.to_client.is_empty() {
            return Ok(());
        }
        client.send(&self.to_client).await.map_err(|_| SessionEnd::ClientFailed)?;
        self.bytes_out += self.to_client.len() as u64;
        clear_keeping_small(&mut self.to_client);
        Ok(())
    }
}

/// The next message from the backend, once there is one; never while there is none.
async fn next_server_message(assigned: &mut Option<Assignment>) -> std::io::Result<Incoming> {
    match assigned {
        Some(a) => a.lease.backend.conn.next_message(SERVER_MAX, STREAM_ABOVE).await,
        None => std::future::pending().await,
    }
}

/// Empties `buf`, dropping its allocation if one large message grew it past 64 KiB.
fn clear_keeping_small(buf: &mut BytesMut) {
    buf.clear();
    if buf.capacity() > 64 * 1024 {
        *buf = BytesMut::new();
    }
}

/// A client message over `max_message_size`, or one that is not the protocol.
fn client_read_failure(e: &std::io::Error) -> SessionEnd {
    match frame_error(e) {
        Some(FrameError::TooLarge { limit, .. }) => SessionEnd::BadMessage(PgError::fatal(
            "54000", // program_limit_exceeded
            format!("message too large: this gate accepts messages of up to {limit} bytes"),
        )),
        Some(FrameError::BadLength(_)) => SessionEnd::BadMessage(PgError::fatal("08P01", "invalid message length")),
        None => SessionEnd::ClientLeft,
    }
}

/// The length of the next message if all of it is buffered and it is not one to relay as it
/// arrives, so a pipeline is handled in one pass. Anything else (incomplete, large,
/// malformed) is left for the next read to deal with. Never reserves room.
fn complete_len(buf: &[u8], limit: usize) -> Option<usize> {
    if buf.len() < 5 {
        return None;
    }
    let len = usize::try_from(i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]])).ok()?;
    (4..=limit).contains(&len).then_some(len + 1).filter(|total| *total <= STREAM_ABOVE && *total <= buf.len())
}

/// Whether a whole buffered message is the client's Terminate.
fn is_terminate(message: &[u8]) -> bool {
    message.first() == Some(&client_tag::TERMINATE)
}
