//! The message-by-message loop: transaction pooling (a backend serves a client for one
//! transaction, then goes back to the pool), and session pooling with statement audit (one
//! backend, kept). Messages are handled whole, because some must be rewritten or answered
//! here:
//!
//! - On assignment the backend is set up for this client's identity before any message of
//!   the client's reaches it ([`super::assign`]): a reset when it last served another
//!   identity, the identity statement with a Sync of its own, and its ReadyForQuery awaited.
//! - Named prepared statements are renamed by content and prepared again on a backend that
//!   lacks them (see [`super::statements`]); answers the client expects for work skipped
//!   here (ParseComplete, CloseComplete) are simulated by the gate in their turn.
//! - A queue of expected answers follows every message sent, so each server message is
//!   forwarded, ignored, or preceded by the gate's own answers in order; after an error the
//!   queue drops what PostgreSQL skips until Sync.
//!
//! - `routing` — where each client and server message goes, and the expectation queue.
//! - `large` — messages too long to hold, relayed as they arrive.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf, BytesMut};

use super::Gate;
use super::assign::{self, Resets};
use super::audit::StatementAudit;
use super::cancel::Registration;
use super::conn::{Conn, Incoming, Stream, frame_error};
use super::context::SessionIdentity;
use super::pool::{AcquireError, Lease, Pool};
use super::statements::ClientStatements;
use crate::protocol::backend::PgError;
use crate::protocol::codec::FrameError;

use self::large::stream_backend_message;
use self::routing::{Expect, handle_backend_message, handle_client_message};

mod large;
mod routing;

struct Assignment {
    lease: Lease,
    /// The last ReadyForQuery said idle, outside any transaction.
    idle: bool,
    expect: VecDeque<Expect>,
    /// Prepared-statement bookkeeping is uncertain (the client deallocated by SQL): close
    /// the backend instead of pooling it.
    discard: bool,
}

pub enum Outcome {
    ClientLeft,
    ClientFailed,
    BackendFailed,
    /// A statement the gate sent for the client's sake failed.
    SetupFailed,
    Refused(PgError),
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ClientLeft => "ClientLeft",
            Self::ClientFailed => "ClientFailed",
            Self::BackendFailed => "BackendFailed",
            Self::SetupFailed => "SetupFailed",
            Self::Refused(_) => "Refused",
        }
    }
}

/// What one client session is, for the loop.
pub struct FramedSession<'a> {
    pub gate: &'a Gate,
    pub pool: &'a Pool,
    pub who: &'a SessionIdentity,
    pub cancel: &'a Registration<'a>,
    /// Keep the first backend for the whole session (session pooling with statement audit).
    pub sticky: bool,
    /// Who, for statement audit lines.
    pub audit_as: Option<serde_json::Value>,
    /// When the session's token expires, if the session must end then (`close_on_expiry`).
    pub expires_in: Option<Duration>,
}

/// The loop's buffers, reused across transactions so that one costs no allocation.
#[derive(Default)]
struct Buffers {
    statements: ClientStatements,
    audit: Option<StatementAudit>,
    lines: Vec<serde_json::Value>,
    to_backend: BytesMut,
    to_client: BytesMut,
    spare_expect: VecDeque<Expect>,
}

enum Step {
    Continue,
    Release,
    /// A statement the gate sent for the client's sake failed.
    Abort,
    End(Outcome),
}

/// Messages longer than this, header included, are relayed as they arrive instead of being
/// held whole.
pub const STREAM_ABOVE: usize = 256 * 1024;
/// PostgreSQL's own bound on a message, for what the server sends.
const SERVER_MAX: usize = 1 << 30;

/// A client message over `max_message_size`, or one that is not the protocol.
fn client_read_failure(e: &std::io::Error) -> Outcome {
    match frame_error(e) {
        Some(FrameError::TooLarge { limit, .. }) => Outcome::Refused(PgError::fatal(
            "54000", // program_limit_exceeded
            format!("message too large: this gate accepts messages of up to {limit} bytes"),
        )),
        Some(FrameError::BadLength(_)) => Outcome::Refused(PgError::fatal("08P01", "invalid message length")),
        None => Outcome::ClientLeft,
    }
}

/// Completes when `limit` has passed; never for `None`.
async fn after(limit: Option<Duration>) {
    match limit {
        Some(limit) => tokio::time::sleep(limit).await,
        None => std::future::pending().await,
    }
}

fn expired() -> PgError {
    PgError::fatal("28000", "the access token of this session has expired")
}

impl FramedSession<'_> {
    pub async fn run<S: Stream>(&self, client: &mut Conn<S>) -> Outcome {
        let mut assigned: Option<Assignment> = None;
        let outcome = self.relay(client, &mut assigned).await;
        // A session-pooled backend goes back only from a clean stop, and is reset first. A
        // transaction-pooled one still assigned is mid-transaction: closed.
        if let Some(a) = assigned.take() {
            let clean = matches!(outcome, Outcome::ClientLeft) && a.idle && a.expect.is_empty();
            self.cancel.retarget(None);
            if self.sticky && !a.discard {
                self.pool.release(a.lease, clean).await;
            }
        }
        outcome
    }

    fn max_message(&self) -> usize {
        self.gate.config.max_message_size
    }

    async fn relay<S: Stream>(&self, client: &mut Conn<S>, assigned: &mut Option<Assignment>) -> Outcome {
        let mut bufs =
            Buffers { audit: self.audit_as.as_ref().map(|_| StatementAudit::default()), ..Buffers::default() };
        let expiry = after(self.expires_in);
        tokio::pin!(expiry);
        let idle_limit = Some(self.gate.config.client_idle_timeout).filter(|l| !l.is_zero());
        loop {
            let Some(a) = assigned.as_mut() else {
                let first = tokio::select! {
                    () = after(idle_limit) => return Outcome::Refused(super::session::idle_error()),
                    () = &mut expiry => return Outcome::Refused(expired()),
                    read = client.next_message(self.max_message(), STREAM_ABOVE) => match read {
                        Ok(Incoming::Whole(_)) if client.buf[0] == b'X' => return Outcome::ClientLeft,
                        Ok(incoming) => incoming,
                        Err(e) => return client_read_failure(&e),
                    },
                };
                let mut a = match self.assign(std::mem::take(&mut bufs.spare_expect)).await {
                    Ok(a) => a,
                    Err(e) => return Outcome::Refused(e.refusal().0),
                };
                let outcome = self.client_input(first, client, &mut a, &mut bufs).await;
                *assigned = Some(a);
                if let Some(outcome) = outcome {
                    return outcome;
                }
                if let Some(outcome) = flush(client, &mut bufs.to_client).await {
                    return outcome;
                }
                continue;
            };

            // Waiting on the client outside a transaction (session pooling keeps its backend).
            let waiting_on_client = a.idle && a.expect.is_empty();
            tokio::select! {
                () = after(idle_limit.filter(|_| waiting_on_client)) => {
                    return Outcome::Refused(super::session::idle_error())
                }
                () = &mut expiry => return Outcome::Refused(expired()),
                read = client.next_message(self.max_message(), STREAM_ABOVE) => {
                    let incoming = match read {
                        Ok(incoming) => incoming,
                        Err(e) => return client_read_failure(&e),
                    };
                    if let Some(outcome) = self.client_input(incoming, client, a, &mut bufs).await {
                        return outcome;
                    }
                }
                read = a.lease.backend.conn.next_message(SERVER_MAX, STREAM_ABOVE) => {
                    let step = match read {
                        Ok(Incoming::Whole(len)) => backend_messages(len, a, &mut bufs),
                        Ok(Incoming::Large(total)) => stream_backend_message(total, client, a, &mut bufs).await,
                        Err(_) => return Outcome::BackendFailed,
                    };
                    match step {
                        Step::Continue => {}
                        Step::Release => {
                            if !self.sticky && let Some(a) = assigned.take() {
                                bufs.spare_expect = self.release(a);
                            }
                        }
                        Step::Abort => return Outcome::SetupFailed,
                        Step::End(outcome) => return outcome,
                    }
                    self.write_audit(&mut bufs.lines);
                }
            }
            if let Some(outcome) = flush(client, &mut bufs.to_client).await {
                return outcome;
            }
        }
    }

    /// Handles what the client sent: whole messages in place, a large one as it arrives.
    async fn client_input<S: Stream>(
        &self,
        incoming: Incoming,
        client: &mut Conn<S>,
        a: &mut Assignment,
        bufs: &mut Buffers,
    ) -> Option<Outcome> {
        match incoming {
            Incoming::Whole(len) => self.pass_on(len, client, a, bufs).await,
            Incoming::Large(total) => self.stream_client_message(total, client, a, bufs).await,
        }
    }

    /// Handles the first buffered message (`first` bytes long) and every complete one
    /// behind it, in place, then sends the result to the backend in one write. `Some` ends
    /// the session.
    async fn pass_on<S: Stream>(
        &self,
        first: usize,
        client: &mut Conn<S>,
        a: &mut Assignment,
        bufs: &mut Buffers,
    ) -> Option<Outcome> {
        let mut buf = std::mem::take(&mut client.buf);
        let mut next = Some(first);
        while let Some(len) = next.take().or_else(|| complete_len(&buf, self.max_message())) {
            let message = &buf[..len];
            if message[0] == b'X' {
                return Some(Outcome::ClientLeft);
            }
            if let Some(audit) = bufs.audit.as_mut() {
                audit.client(message[0], &message[5..]);
            }
            handle_client_message(message, a, &mut bufs.statements, &mut bufs.to_backend, &mut bufs.to_client);
            buf.advance(len);
        }
        client.buf = buf;
        client.shrink();
        self.send_to_backend(a, bufs).await
    }

    async fn send_to_backend(&self, a: &mut Assignment, bufs: &mut Buffers) -> Option<Outcome> {
        if bufs.to_backend.is_empty() {
            return None;
        }
        let sent = a.lease.backend.conn.send(&bufs.to_backend).await;
        bufs.to_backend.clear();
        if bufs.to_backend.capacity() > 64 * 1024 {
            bufs.to_backend = BytesMut::new();
        }
        sent.is_err().then_some(Outcome::BackendFailed)
    }

    fn write_audit(&self, lines: &mut Vec<serde_json::Value>) {
        let Some(who) = &self.audit_as else { return };
        for mut line in lines.drain(..) {
            if let (Some(line), Some(who)) = (line.as_object_mut(), who.as_object()) {
                line.extend(who.clone());
            }
            tracing::info!(target: "ward::audit", "{line}");
        }
    }

    /// A backend set up for this client, with an empty expectation queue.
    async fn assign(&self, mut expect: VecDeque<Expect>) -> Result<Assignment, AcquireError> {
        let config = &self.gate.config;
        let resets = Resets { same_identity: &config.transaction_reset_query, deadline: config.reset_timeout };
        let lease = assign::assign(self.pool, self.who, &resets).await?;
        expect.clear();
        self.cancel.retarget(lease.backend.key);
        Ok(Assignment { lease, idle: true, expect, discard: false })
    }

    /// Returns the backend to the pool, and the emptied expectation queue for reuse.
    fn release(&self, a: Assignment) -> VecDeque<Expect> {
        self.cancel.retarget(None);
        let Assignment { lease, discard, expect, .. } = a;
        if !discard {
            self.pool.put_back(lease);
        }
        expect
    }
}

async fn flush<S: Stream>(client: &mut Conn<S>, to_client: &mut BytesMut) -> Option<Outcome> {
    if to_client.is_empty() {
        return None;
    }
    if client.send(to_client).await.is_err() {
        return Some(Outcome::ClientFailed);
    }
    to_client.clear();
    if to_client.capacity() > 64 * 1024 {
        *to_client = BytesMut::new();
    }
    None
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

/// Every whole server message already read, handled in place and copied out as it came if
/// the client is to see it.
fn backend_messages(first: usize, a: &mut Assignment, bufs: &mut Buffers) -> Step {
    let mut buf = std::mem::take(&mut a.lease.backend.conn.buf);
    let mut step = Step::Continue;
    let mut next = Some(first);
    while let Some(len) = next.take().or_else(|| complete_len(&buf, SERVER_MAX)) {
        let this = handle_backend_message(&buf[..len], a, bufs);
        buf.advance(len);
        match this {
            Step::Continue => {}
            Step::Release => step = Step::Release,
            other => return other,
        }
    }
    a.lease.backend.conn.buf = buf;
    a.lease.backend.conn.shrink();
    step
}
