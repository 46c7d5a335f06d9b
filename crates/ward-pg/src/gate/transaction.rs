//! Transaction pooling: a backend serves a client for one transaction, then goes back to the
//! pool. Messages are handled whole, because some must be rewritten or answered here:
//!
//! - On assignment, the caller's identity is set again unless this backend is known to carry
//!   exactly these settings already (compared by digest, so clients with the same identity
//!   share warm backends); and if the previous client may have changed session state, a reset runs
//!   first. The identity statement is sent without its own Sync, ahead of the client's
//!   messages: should it fail, PostgreSQL skips what follows up to the client's Sync, and the
//!   gate ends the session — a client never runs with someone else's identity.
//! - Named prepared statements are renamed by content and prepared again on a backend that
//!   lacks them (see [`super::statements`]); answers the client expects for work skipped
//!   here (ParseComplete, CloseComplete) are produced by the gate in their turn.
//! - A queue of expected answers follows every message sent, so each server message is
//!   forwarded, swallowed, or preceded by the gate's own answers in order; after an error the
//!   queue drops what PostgreSQL skips until Sync.

use std::collections::VecDeque;

use bytes::{Buf, BytesMut};

use super::Gate;
use super::audit::StatementAudit;
use super::cancel::Registration;
use super::conn::{Conn, Stream};
use super::context;
use super::pool::{AcquireError, Lease, Pool};
use super::statements::{self, ClientStatements, Prepared};
use crate::protocol::backend::PgError;
use crate::protocol::codec::{put_cstr, put_frame};

/// Largest single message relayed in transaction pooling (PostgreSQL's own limit is 1 GiB).
pub const MAX_MESSAGE: usize = 256 << 20;

/// What the server will send for something the gate sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    /// ParseComplete, BindComplete or CloseComplete (or an error).
    One { swallow: bool, prepares: Option<String> },
    /// An optional ParameterDescription, then RowDescription or NoData.
    Describe,
    /// Rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute { swallow: bool },
    /// ReadyForQuery.
    Sync,
    /// A simple query or function call: everything up to ReadyForQuery.
    UntilReady { swallow: bool },
    /// An answer the gate gives itself, when its turn comes.
    Fake(u8),
}

impl Expect {
    fn swallowed(&self) -> bool {
        matches!(
            self,
            Self::One { swallow: true, .. } | Self::Execute { swallow: true } | Self::UntilReady { swallow: true }
        )
    }
}

struct Assignment {
    lease: Lease,
    /// The last ReadyForQuery said idle, outside any transaction.
    idle: bool,
    expect: VecDeque<Expect>,
    saw_error: bool,
    saw_rollback: bool,
    /// Prepared-statement bookkeeping is uncertain (the client deallocated by SQL): close
    /// the backend instead of pooling it.
    discard: bool,
}

pub enum Outcome {
    ClientLeft,
    ClientFailed,
    BackendFailed,
    /// The identity or reset statements failed on assignment.
    SetupFailed,
    Refused(PgError),
}

pub struct Session<'a> {
    pub gate: &'a Gate,
    pub pool: &'a Pool,
    pub settings: &'a [(String, String)],
    /// Digest of `settings` (see [`context::digest`]).
    pub identity: [u8; 16],
    pub cancel: &'a Registration<'a>,
    /// Keep the first backend for the whole session (session pooling with statement audit).
    pub sticky: bool,
    /// Who, for statement audit lines.
    pub audit_as: Option<serde_json::Value>,
}

enum Step {
    Continue,
    Release,
    Abort,
}

impl Session<'_> {
    pub async fn run<S: Stream>(&self, client: &mut Conn<S>) -> Outcome {
        let mut assigned: Option<Assignment> = None;
        let outcome = self.relay(client, &mut assigned).await;
        // A session-pooled backend goes back only from a clean stop, and is reset first.
        if let Some(a) = assigned.take() {
            let clean = matches!(outcome, Outcome::ClientLeft) && a.idle && a.expect.is_empty();
            self.cancel.retarget(None);
            if self.sticky && !a.discard {
                self.pool.release(a.lease, clean).await;
            }
        }
        outcome
    }

    async fn relay<S: Stream>(&self, client: &mut Conn<S>, assigned: &mut Option<Assignment>) -> Outcome {
        let mut statements = ClientStatements::default();
        let mut audit = self.audit_as.as_ref().map(|_| StatementAudit::default());
        let mut lines = Vec::new();
        let mut to_backend = BytesMut::new();
        let mut to_client = BytesMut::new();
        // The expectation queue outlives assignments, so a transaction costs no allocation.
        let mut spare_expect = VecDeque::new();
        loop {
            let Some(a) = assigned.as_mut() else {
                let limit = self.gate.config.client_idle_timeout;
                let read = client.buffered_frame(MAX_MESSAGE);
                let frame = if limit.is_zero() {
                    read.await
                } else {
                    match tokio::time::timeout(limit, read).await {
                        Ok(read) => read,
                        Err(_) => return Outcome::Refused(super::session::idle_error()),
                    }
                };
                let first = match frame {
                    Ok(_) if client.buf[0] == b'X' => return Outcome::ClientLeft,
                    Ok(len) => len,
                    Err(_) => return Outcome::ClientLeft,
                };
                let mut a = match self.assign(&mut to_backend, std::mem::take(&mut spare_expect)).await {
                    Ok(a) => a,
                    Err(e) => return Outcome::Refused(e.refusal().0),
                };
                if let Some(outcome) = self
                    .pass_on(first, client, &mut a, &mut statements, &mut audit, &mut to_backend, &mut to_client)
                    .await
                {
                    return outcome;
                }
                if !to_client.is_empty() {
                    if client.send(&to_client).await.is_err() {
                        return Outcome::ClientFailed;
                    }
                    to_client.clear();
                }
                *assigned = Some(a);
                continue;
            };

            // Waiting on the client outside a transaction (session pooling keeps its backend).
            let limit = self.gate.config.client_idle_timeout;
            let idle_limit = (!limit.is_zero() && a.idle && a.expect.is_empty()).then_some(limit);
            let idle = async move {
                match idle_limit {
                    Some(limit) => tokio::time::sleep(limit).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = idle => return Outcome::Refused(super::session::idle_error()),
                len = client.buffered_frame(MAX_MESSAGE) => {
                    let Ok(len) = len else { return Outcome::ClientLeft };
                    if let Some(outcome) = self.pass_on(len, client, a, &mut statements, &mut audit, &mut to_backend, &mut to_client).await {
                        return outcome;
                    }
                }
                len = a.lease.backend.conn.buffered_frame(MAX_MESSAGE) => {
                    let Ok(len) = len else { return Outcome::BackendFailed };
                    // Every whole message already read is handled in place, and copied out
                    // as it came if the client is to see it.
                    let mut buf = std::mem::take(&mut a.lease.backend.conn.buf);
                    let mut release = false;
                    let mut next = Some(len);
                    while let Some(len) = next.take().or_else(|| buffered_len(&mut buf)) {
                        let step = handle_backend_message(&buf[..len], a, &mut to_client, &mut audit, &mut lines);
                        buf.advance(len);
                        match step {
                            Step::Continue => {}
                            Step::Release => release = true,
                            Step::Abort => return Outcome::SetupFailed,
                        }
                    }
                    a.lease.backend.conn.buf = buf;
                    if release && !self.sticky && let Some(a) = assigned.take() {
                        spare_expect = self.release(a);
                    }
                    self.write_audit(&mut lines);
                }
            }
            if !to_client.is_empty() {
                if client.send(&to_client).await.is_err() {
                    return Outcome::ClientFailed;
                }
                to_client.clear();
            }
        }
    }

    /// Handles the first buffered message (`first` bytes long) and every complete one
    /// behind it, in place, then sends the result to the backend in one write. `Some` ends
    /// the session.
    #[allow(clippy::too_many_arguments)]
    async fn pass_on<S: Stream>(
        &self,
        first: usize,
        client: &mut Conn<S>,
        a: &mut Assignment,
        statements: &mut ClientStatements,
        audit: &mut Option<StatementAudit>,
        to_backend: &mut BytesMut,
        to_client: &mut BytesMut,
    ) -> Option<Outcome> {
        let mut buf = std::mem::take(&mut client.buf);
        let mut next = Some(first);
        while let Some(len) = next.take().or_else(|| buffered_len(&mut buf)) {
            let message = &buf[..len];
            if message[0] == b'X' {
                return Some(Outcome::ClientLeft);
            }
            if let Some(audit) = audit.as_mut() {
                audit.client(message[0], &message[5..]);
            }
            self.handle_client_message(message, a, statements, to_backend, to_client);
            buf.advance(len);
        }
        client.buf = buf;
        let sent = a.lease.backend.conn.send(to_backend).await;
        to_backend.clear();
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

    /// Takes a backend and queues what it needs before serving this client.
    async fn assign(&self, out: &mut BytesMut, mut expect: VecDeque<Expect>) -> Result<Assignment, AcquireError> {
        let mut lease = self.pool.acquire_for(Some(self.identity)).await?;
        expect.clear();
        let backend = &mut lease.backend;
        if backend.dirty {
            put_frame(out, b'Q', |b| put_cstr(b, &self.gate.config.transaction_reset_query));
            expect.push_back(Expect::UntilReady { swallow: true });
            backend.dirty = false;
            backend.identity_of = None;
        }
        if backend.identity_of != Some(self.identity) && !self.settings.is_empty() {
            // Prepared once per backend, then only bound and executed: no parse or plan on
            // the way of every transaction.
            let name = context::prepared_name(self.settings);
            if backend.prepared.insert(name.clone()) {
                context::encode_parse(out, &name, self.settings);
                expect.push_back(Expect::One { swallow: true, prepares: Some(name.clone()) });
            }
            context::encode_execute(out, &name, self.settings);
            expect.extend([Expect::One { swallow: true, prepares: None }, Expect::Execute { swallow: true }]);
            backend.identity_of = None;
        }
        self.cancel.retarget(backend.key);
        Ok(Assignment { lease, idle: false, expect, saw_error: false, saw_rollback: false, discard: false })
    }

    /// Returns the backend to the pool, and the emptied expectation queue for reuse.
    fn release(&self, a: Assignment) -> VecDeque<Expect> {
        self.cancel.retarget(None);
        let Assignment { mut lease, saw_error, saw_rollback, discard, expect, .. } = a;
        if discard {
            return expect;
        }
        // The identity statement commits with the client's first transaction: only a clean
        // one proves it is in place.
        let proven = !saw_error && !saw_rollback;
        lease.backend.identity_of = if proven { lease.backend.identity_of.or(Some(self.identity)) } else { None };
        self.pool.put_back(lease);
        expect
    }

    /// Routes one whole client message (`message` includes its header). Messages that need
    /// no rewriting are copied through as they came.
    fn handle_client_message(
        &self,
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
                            a.expect.push_back(Expect::Fake(b'1'));
                        } else {
                            statements::encode_parse(out, &prepared.server_name, &prepared.definition);
                            a.lease.backend.prepared.insert(prepared.server_name.clone());
                            a.expect.push_back(Expect::One {
                                swallow: false,
                                prepares: Some(prepared.server_name.clone()),
                            });
                        }
                    }
                    _ => a.expect.push_back(Expect::One { swallow: false, prepares: None }),
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
                a.expect.push_back(Expect::One { swallow: false, prepares: None });
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
                    a.expect.push_back(Expect::Fake(b'3'));
                }
                _ => a.expect.push_back(Expect::One { swallow: false, prepares: None }),
            },
            b'E' => a.expect.push_back(Expect::Execute { swallow: false }),
            b'S' => a.expect.push_back(Expect::Sync),
            b'Q' | b'F' => {
                if tag == b'Q' && statements::may_change_session(body) {
                    a.lease.backend.dirty = true;
                    if statements::contains_ignore_case(body, b"deallocate")
                        || statements::contains_ignore_case(body, b"discard")
                    {
                        a.discard = true;
                    }
                }
                a.expect.push_back(Expect::UntilReady { swallow: false });
            }
            _ => {}
        }
        if raw {
            out.extend_from_slice(message);
        }
        emit_fakes(&mut a.expect, to_client);
    }
}

/// A statement the client named (the unnamed one is never renamed).
fn named<'s>(statements: &'s ClientStatements, name: &str) -> Option<&'s Prepared> {
    if name.is_empty() { None } else { statements.get(name) }
}

fn ensure_prepared(a: &mut Assignment, p: &Prepared, out: &mut BytesMut) {
    if a.lease.backend.prepared.insert(p.server_name.clone()) {
        statements::encode_parse(out, &p.server_name, &p.definition);
        a.expect.push_back(Expect::One { swallow: true, prepares: Some(p.server_name.clone()) });
    }
}

/// Answers the gate owes the client, up to the first answer the server owes.
fn emit_fakes(expect: &mut VecDeque<Expect>, to_client: &mut BytesMut) {
    while let Some(Expect::Fake(tag)) = expect.front() {
        put_frame(to_client, *tag, |_| {});
        expect.pop_front();
    }
}

/// Routes one whole server message (`message` includes its header).
fn handle_backend_message(
    message: &[u8],
    a: &mut Assignment,
    to_client: &mut BytesMut,
    audit: &mut Option<StatementAudit>,
    lines: &mut Vec<serde_json::Value>,
) -> Step {
    emit_fakes(&mut a.expect, to_client);
    let (tag, body) = (message[0], &message[5..]);
    let head = a.expect.front().cloned();
    let swallow = head.as_ref().is_some_and(Expect::swallowed);
    let mut forward = !swallow;
    let mut step = Step::Continue;
    match tag {
        b'E' => {
            if swallow {
                return Step::Abort;
            }
            a.saw_error = true;
            match head {
                Some(Expect::UntilReady { .. }) | Some(Expect::Sync) | None => {}
                Some(_) => {
                    // PostgreSQL skips everything up to the next Sync.
                    while let Some(e) = a.expect.front() {
                        if *e == Expect::Sync {
                            break;
                        }
                        if let Expect::One { prepares: Some(name), .. } = e {
                            a.lease.backend.prepared.remove(name);
                        }
                        a.expect.pop_front();
                    }
                }
            }
        }
        b'1' | b'2' | b'3' => {
            if let Some(Expect::One { .. }) = head {
                a.expect.pop_front();
            }
        }
        b'T' | b'n' if head == Some(Expect::Describe) => {
            a.expect.pop_front();
        }
        b'C' | b'I' | b's' => {
            if tag == b'C' && body.starts_with(b"ROLLBACK") {
                a.saw_rollback = true;
            }
            if let Some(Expect::Execute { .. }) = head {
                a.expect.pop_front();
            }
        }
        b'Z' => {
            if matches!(head, Some(Expect::Sync) | Some(Expect::UntilReady { .. })) {
                a.expect.pop_front();
            }
            let status = body.first().copied().unwrap_or(b'I');
            a.idle = status == b'I';
            if a.expect.is_empty() && status == b'I' {
                step = Step::Release;
            }
        }
        // Notices, parameter changes and notifications may come at any time.
        b'N' | b'S' | b'A' => forward = !swallow || tag == b'S',
        _ => {}
    }
    if forward {
        if let Some(audit) = audit.as_mut() {
            lines.extend(audit.server(tag, body));
        }
        to_client.extend_from_slice(message);
    }
    emit_fakes(&mut a.expect, to_client);
    step
}

/// The length of the next complete message already buffered, so a pipeline is handled in
/// one pass. A malformed one is left for the next read to report.
fn buffered_len(buf: &mut BytesMut) -> Option<usize> {
    crate::protocol::codec::frame_len(buf, MAX_MESSAGE).ok().flatten()
}
