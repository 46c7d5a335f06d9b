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

use std::collections::VecDeque;
use std::time::Duration;

use bytes::{Buf, BytesMut};

use super::Gate;
use super::assign::{self, Resets};
use super::audit::StatementAudit;
use super::cancel::Registration;
use super::conn::{Conn, Failed, Incoming, Stream, frame_error};
use super::context::SessionIdentity;
use super::pool::{AcquireError, Lease, Pool};
use super::statements::{self, ClientStatements, Prepared};
use crate::protocol::backend::PgError;
use crate::protocol::codec::{FrameError, put_cstr, put_frame};

/// What the server will send for something the gate sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// ParseComplete, BindComplete or CloseComplete (or an error). `ignore`: the answer to
    /// the gate's own Parse, which the client must not see; `prepares`: the statement a
    /// Parse creates on the server.
    Completion { ignore: bool, prepares: Option<String> },
    /// An optional ParameterDescription, then RowDescription or NoData.
    Describe,
    /// Rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute,
    /// ReadyForQuery.
    Sync,
    /// A simple query or function call: everything up to ReadyForQuery.
    UntilReady,
    /// An answer the gate gives the client itself, when its turn comes.
    Simulated(u8),
}

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

    /// A client message too long to hold (`total` bytes, header included): routed by what
    /// its first bytes say, then relayed to the backend as it arrives. A named Parse is the
    /// exception: its server-side name is a digest of all of it, so it is read whole (up to
    /// `max_message_size`) like any message whose kind is never large in honest use.
    async fn stream_client_message<S: Stream>(
        &self,
        total: usize,
        client: &mut Conn<S>,
        a: &mut Assignment,
        bufs: &mut Buffers,
    ) -> Option<Outcome> {
        let tag = client.buf[0];
        let names = match tag {
            b'P' => 1,
            b'B' => 2,
            b'Q' | b'F' | b'd' => 0,
            _ => return self.read_whole(total, client, a, bufs).await,
        };
        let Ok(Some(after_names)) = names_end(client, total, names).await else {
            return Some(Outcome::Refused(PgError::fatal("08P01", "malformed message")));
        };
        let head = &client.buf[5..after_names.max(5)];
        let mut skip = 0;
        match tag {
            b'P' if head.first() != Some(&0) => return self.read_whole(total, client, a, bufs).await,
            b'P' => a.expect.push_back(Expect::Completion { ignore: false, prepares: None }),
            b'B' => {
                if let Some((portal, name, _)) = statements::split_bind(head)
                    && let Some(p) = named(&bufs.statements, name)
                {
                    // Renamed: a new header and names, then the rest as it comes.
                    ensure_prepared(a, p, &mut bufs.to_backend);
                    let rest = total - after_names;
                    let body = portal.len() + 1 + p.server_name.len() + 1 + rest;
                    bufs.to_backend.extend_from_slice(b"B");
                    bufs.to_backend.extend_from_slice(&((body + 4) as i32).to_be_bytes());
                    put_cstr(&mut bufs.to_backend, portal);
                    put_cstr(&mut bufs.to_backend, &p.server_name);
                    skip = after_names;
                }
                // After the gate's own Parse, if one was needed: answers come in order.
                a.expect.push_back(Expect::Completion { ignore: false, prepares: None });
            }
            b'Q' | b'F' => {
                // Not scanned whole: assume the worst for same-identity sharing.
                a.lease.backend.dirty = true;
                let seen = &client.buf[5..];
                if statements::contains_ignore_case(seen, b"deallocate")
                    || statements::contains_ignore_case(seen, b"discard")
                {
                    a.discard = true;
                }
                a.expect.push_back(Expect::UntilReady);
            }
            _ => {}
        }
        if let Some(audit) = bufs.audit.as_mut() {
            audit.client(tag, &client.buf[5..]);
        }
        if let Some(outcome) = self.send_to_backend(a, bufs).await {
            return Some(outcome);
        }
        client.buf.advance(skip);
        match client.forward(&mut a.lease.backend.conn.stream, total - skip).await {
            Ok(()) => None,
            Err(Failed::Reading) => Some(Outcome::ClientLeft),
            Err(Failed::Writing) => Some(Outcome::BackendFailed),
        }
    }

    /// Reads all of a message that is not relayed as it arrives, then handles it in place.
    async fn read_whole<S: Stream>(
        &self,
        total: usize,
        client: &mut Conn<S>,
        a: &mut Assignment,
        bufs: &mut Buffers,
    ) -> Option<Outcome> {
        if client.buffer_at_least(total).await.is_err() {
            return Some(Outcome::ClientLeft);
        }
        self.pass_on(total, client, a, bufs).await
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

/// Routes one whole client message (`message` includes its header). Messages that need
/// no rewriting are copied through as they came.
fn handle_client_message(
    message: &[u8],
    a: &mut Assignment,
    statements: &mut ClientStatements,
    out: &mut BytesMut,
    to_client: &mut BytesMut,
) {
    let (tag, body) = (message[0], &message[5..]);
    let mut raw = true;
    match tag {
        b'P' => {
            let parsed = statements::split_parse(body);
            if let Some((_, definition)) = parsed
                && statements::may_change_session(statements::query_text(definition))
            {
                a.lease.backend.dirty = true;
            }
            match parsed {
                Some((name, definition)) if !name.is_empty() => {
                    raw = false;
                    let prepared = statements.insert(name, definition);
                    if a.lease.backend.prepared.contains(&prepared.server_name) {
                        a.expect.push_back(Expect::Simulated(b'1'));
                    } else {
                        statements::encode_parse(out, &prepared.server_name, &prepared.definition);
                        a.lease.backend.prepared.insert(prepared.server_name.clone());
                        a.expect.push_back(Expect::Completion {
                            ignore: false,
                            prepares: Some(prepared.server_name.clone()),
                        });
                    }
                }
                _ => a.expect.push_back(Expect::Completion { ignore: false, prepares: None }),
            }
        }
        b'B' => {
            if let Some((portal, name, rest)) = statements::split_bind(body)
                && let Some(p) = named(statements, name)
            {
                raw = false;
                ensure_prepared(a, p, out);
                statements::encode_bind(out, portal, &p.server_name, rest);
            }
            a.expect.push_back(Expect::Completion { ignore: false, prepares: None });
        }
        b'D' => {
            if let Some((b'S', name)) = statements::split_target(body)
                && let Some(p) = named(statements, name)
            {
                raw = false;
                ensure_prepared(a, p, out);
                statements::encode_target(out, b'D', b'S', &p.server_name);
            }
            a.expect.push_back(Expect::Describe);
        }
        b'C' => match statements::split_target(body) {
            // The server copy stays for the next client with the same statement.
            Some((b'S', name)) if named(statements, name).is_some() => {
                raw = false;
                statements.remove(name);
                a.expect.push_back(Expect::Simulated(b'3'));
            }
            _ => a.expect.push_back(Expect::Completion { ignore: false, prepares: None }),
        },
        b'E' => a.expect.push_back(Expect::Execute),
        b'S' => a.expect.push_back(Expect::Sync),
        b'Q' | b'F' => {
            // Only same-identity sharing rests on this guess; another identity always gets
            // a full reset first (see `assign`).
            if tag == b'F' || statements::may_change_session(body) {
                a.lease.backend.dirty = true;
            }
            if tag == b'Q'
                && (statements::contains_ignore_case(body, b"deallocate")
                    || statements::contains_ignore_case(body, b"discard"))
            {
                a.discard = true;
            }
            a.expect.push_back(Expect::UntilReady);
        }
        _ => {}
    }
    if raw {
        out.extend_from_slice(message);
    }
    emit_simulated(&mut a.expect, to_client);
}

/// A statement the client named (the unnamed one is never renamed).
fn named<'s>(statements: &'s ClientStatements, name: &str) -> Option<&'s Prepared> {
    if name.is_empty() { None } else { statements.get(name) }
}

fn ensure_prepared(a: &mut Assignment, p: &Prepared, out: &mut BytesMut) {
    if a.lease.backend.prepared.insert(p.server_name.clone()) {
        statements::encode_parse(out, &p.server_name, &p.definition);
        a.expect.push_back(Expect::Completion { ignore: true, prepares: Some(p.server_name.clone()) });
    }
}

/// Answers the gate owes the client, up to the first answer the server owes.
fn emit_simulated(expect: &mut VecDeque<Expect>, to_client: &mut BytesMut) {
    while let Some(Expect::Simulated(tag)) = expect.front() {
        put_frame(to_client, *tag, |_| {});
        expect.pop_front();
    }
}

/// Routes one whole server message (`message` includes its header).
fn handle_backend_message(message: &[u8], a: &mut Assignment, bufs: &mut Buffers) -> Step {
    emit_simulated(&mut a.expect, &mut bufs.to_client);
    let (tag, body) = (message[0], &message[5..]);
    let head = a.expect.front().cloned();
    let ignore = matches!(head, Some(Expect::Completion { ignore: true, .. }));
    let mut forward = !ignore;
    let mut step = Step::Continue;
    match tag {
        b'E' => {
            if ignore {
                return Step::Abort;
            }
            if !matches!(head, Some(Expect::UntilReady) | Some(Expect::Sync) | None) {
                // PostgreSQL skips everything up to the next Sync.
                while let Some(e) = a.expect.front() {
                    if *e == Expect::Sync {
                        break;
                    }
                    if let Expect::Completion { prepares: Some(name), .. } = e {
                        a.lease.backend.prepared.remove(name);
                    }
                    a.expect.pop_front();
                }
            }
        }
        b'1' | b'2' | b'3' => {
            if let Some(Expect::Completion { .. }) = head {
                a.expect.pop_front();
            }
        }
        b'T' | b'n' if head == Some(Expect::Describe) => {
            a.expect.pop_front();
        }
        b'C' | b'I' | b's' => {
            if let Some(Expect::Execute) = head {
                a.expect.pop_front();
            }
        }
        b'Z' => {
            if matches!(head, Some(Expect::Sync) | Some(Expect::UntilReady)) {
                a.expect.pop_front();
            }
            let status = body.first().copied().unwrap_or(b'I');
            a.idle = status == b'I';
            if a.expect.is_empty() && status == b'I' {
                step = Step::Release;
            }
        }
        // Notices, parameter changes and notifications may come at any time.
        b'N' | b'S' | b'A' => forward = !ignore || tag == b'S',
        _ => {}
    }
    if forward {
        if let Some(audit) = bufs.audit.as_mut() {
            bufs.lines.extend(audit.server(tag, body));
        }
        bufs.to_client.extend_from_slice(message);
    }
    emit_simulated(&mut a.expect, &mut bufs.to_client);
    step
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

/// Waits until the first `count` NUL-terminated names of a message's body are buffered and
/// returns where they end (from the start of the message). `None` if they do not end
/// within the message or within the first 64 KiB.
async fn names_end<S: Stream>(client: &mut Conn<S>, total: usize, count: usize) -> std::io::Result<Option<usize>> {
    const MAX_NAMES: usize = 64 * 1024;
    let mut at = 5;
    for _ in 0..count {
        loop {
            if let Some(nul) = client.buf[at..].iter().position(|b| *b == 0) {
                at += nul + 1;
                break;
            }
            if client.buf.len() >= total.min(MAX_NAMES) {
                return Ok(None);
            }
            let want = client.buf.len() + 1;
            client.buffer_at_least(want).await?;
        }
    }
    Ok(Some(at))
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

/// A server message too long to hold: rows and copy data, relayed to the client as they
/// arrive, after whatever the client is owed first. Other kinds are never that large in
/// honest use, and are read whole.
async fn stream_backend_message<S: Stream>(
    total: usize,
    client: &mut Conn<S>,
    a: &mut Assignment,
    bufs: &mut Buffers,
) -> Step {
    let conn = &mut a.lease.backend.conn;
    let tag = conn.buf[0];
    if !matches!(tag, b'D' | b'd') || matches!(a.expect.front(), Some(Expect::Completion { ignore: true, .. })) {
        if conn.buffer_at_least(total).await.is_err() {
            return Step::End(Outcome::BackendFailed);
        }
        return backend_messages(total, a, bufs);
    }
    emit_simulated(&mut a.expect, &mut bufs.to_client);
    if let Some(outcome) = flush(client, &mut bufs.to_client).await {
        return Step::End(outcome);
    }
    match a.lease.backend.conn.forward(&mut client.stream, total).await {
        Ok(()) => Step::Continue,
        Err(Failed::Reading) => Step::End(Outcome::BackendFailed),
        Err(Failed::Writing) => Step::End(Outcome::ClientFailed),
    }
}
