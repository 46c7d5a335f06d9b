//! One client, from accept to close. Commands are read whole and pipelined as they came; each
//! is refused, answered by the gate, or rewritten into the caller's namespace and sent on. A
//! queue of what each command is owed keeps every reply — Redis's and the gate's own — in the
//! order the commands came, and says how each reply is given back (keys stripped, a
//! transaction's replies each by its command's shape).
//!
//! - [`auth`] — the connection commands the gate answers itself.
//! - [`link`] — shared connections, or one of the session's own.
//! - [`replies`] — Redis's replies, given back in order.

mod auth;
mod link;
mod replies;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ward_gate::RefusalReason;
use ward_gate::audit::{AuditEvent, EventKind, Who};
use ward_gate::stream::ClientStream;
use ward_gate::watch::IdleWatch;
use ward_token::remote::Identity;

use self::link::{Link, needs_own_connection};
use super::Gate;
use crate::dispatch::{Decision, Permissions, ReplyShape, decide};
use crate::namespace::{Namespace, rewrite, rewrite_scan};
use crate::protocol::{Args, Limits, encode, parse_command};

/// What the client is owed, in order.
enum Owed {
    /// Redis's reply to a command, given back by its shape.
    Reply(ReplyShape, Option<Audited>),
    /// An answer the gate gives itself.
    Local(Vec<u8>),
    /// `+QUEUED` (or an error) for a command inside MULTI; its shape is kept for EXEC.
    Queued(ReplyShape),
    /// EXEC's array: each element by the shape of the command it answers.
    Exec(Option<Audited>),
    /// DISCARD's `+OK`: the transaction's shapes are dropped.
    Discard,
    /// Redis's reply is not shown; these bytes are, instead (EXEC of a transaction the gate
    /// refused part of becomes a DISCARD upstream and `-EXECABORT` here).
    Instead(Vec<u8>),
    /// RESP2: from here on the connection is in subscribed mode.
    Subscribed,
}

/// A command whose reply is to be audited (`audit_commands`).
#[derive(Debug, Clone, Copy)]
struct Audited {
    command: &'static str,
    sent: Instant,
}

/// The authenticated caller.
struct Caller {
    /// When its token expires.
    expires_at: tokio::time::Instant,
    identity: Arc<Identity>,
    account: String,
    namespace: Namespace,
    permissions: Permissions,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    ClientLeft,
    ClientFailed,
    BackendFailed,
    ProtocolError,
    TokenExpired,
    ClientIdle,
    AuthTimeout,
}

impl End {
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientLeft => "ClientLeft",
            Self::ClientFailed => "ClientFailed",
            Self::BackendFailed => "BackendFailed",
            Self::ProtocolError => "ProtocolError",
            Self::TokenExpired => "TokenExpired",
            Self::ClientIdle => "ClientIdle",
            Self::AuthTimeout => "AuthTimeout",
        }
    }
}

pub async fn run(gate: &Gate, stream: TcpStream, peer: SocketAddr) {
    let mut client = ClientStream::Plain(stream);
    if let Some(acceptor) = &gate.tls {
        let handshake = tokio::time::timeout(gate.config.auth_timeout, client.upgrade(acceptor)).await;
        if !matches!(handshake, Ok(Ok(()))) {
            audit_refused(gate, peer, RefusalReason::Tls);
            return;
        }
    }
    let mut session = Session::new(gate, peer, client);
    let end = session.serve().await;
    session.finish(end).await;
}

/// Too many clients: told so, as Redis tells it, without reading what they sent.
pub async fn refuse_busy(gate: &Gate, mut stream: TcpStream, peer: SocketAddr) {
    tracing::warn!(client = %peer, "redis gate at max_client_connections; refusing");
    audit_refused(gate, peer, RefusalReason::TooManyClients);
    let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
}

fn audit_refused(gate: &Gate, peer: SocketAddr, reason: RefusalReason) {
    metrics::counter!("ward_redis_auth_failures_total", "reason" => reason.as_str()).increment(1);
    AuditEvent {
        kind: EventKind::refused(reason),
        protocol: super::PROTOCOL,
        gate: gate.config.listen,
        client_addr: peer,
        who: None,
    }
    .emit();
}

struct Session<'a> {
    gate: &'a Gate,
    peer: SocketAddr,
    started: Instant,
    client: ClientStream,
    from_client: BytesMut,
    to_client: BytesMut,
    to_upstream: BytesMut,
    /// Commands in `to_upstream`.
    unsent: usize,
    args: Args,
    keys: Vec<usize>,
    /// The RESP version the client speaks.
    protocol: u8,
    caller: Option<Caller>,
    link: Link<'a>,
    owed: VecDeque<Owed>,
    /// Sending side: inside MULTI, and whether the gate refused a command of it.
    multi: Option<bool>,
    /// Receiving side: the shapes of the commands Redis queued, for EXEC's reply.
    queued: Vec<ReplyShape>,
    /// RESP2 subscribed mode: arrays naming a pub/sub event are messages, not replies.
    subscribed: bool,
    quitting: bool,
    idle: IdleWatch,
    /// An unauthenticated client must authenticate by then (from connect, or from RESET).
    auth_by: tokio::time::Instant,
}

impl<'a> Session<'a> {
    fn new(gate: &'a Gate, peer: SocketAddr, client: ClientStream) -> Self {
        Self {
            gate,
            peer,
            started: Instant::now(),
            client,
            from_client: BytesMut::with_capacity(16 * 1024),
            to_client: BytesMut::new(),
            to_upstream: BytesMut::new(),
            unsent: 0,
            args: Args::default(),
            keys: Vec::new(),
            protocol: 2,
            caller: None,
            link: Link::None,
            owed: VecDeque::new(),
            multi: None,
            queued: Vec::new(),
            subscribed: false,
            quitting: false,
            idle: IdleWatch::new(gate.config.client_idle_timeout),
            auth_by: tokio::time::Instant::now() + gate.config.auth_timeout,
        }
    }

    async fn serve(&mut self) -> End {
        // One timer for whichever deadline applies, re-armed only when it changes.
        let timer = tokio::time::sleep_until(self.auth_by);
        tokio::pin!(timer);
        let mut armed = Some((self.auth_by, End::AuthTimeout));
        loop {
            self.idle.touch(self.owed.is_empty());
            let deadline = self.deadline();
            if deadline != armed {
                if let Some((at, _)) = deadline {
                    timer.as_mut().reset(at);
                }
                armed = deadline;
            }
            let end = tokio::select! {
                () = &mut timer, if armed.is_some() => armed.map(|(_, end)| end),
                () = self.idle.expired() => Some(End::ClientIdle),
                read = self.client.read_buf(&mut self.from_client), if !self.quitting => match read {
                    Ok(0) | Err(_) => Some(End::ClientLeft),
                    Ok(_) => self.on_client_bytes().await.err(),
                },
                read = self.link.read() => match read {
                    Ok(()) => self.on_upstream_bytes().err(),
                    Err(_) => Some(End::BackendFailed),
                },
            };
            if let Some(end) = end {
                return end;
            }
            if let Err(end) = self.flush().await {
                return end;
            }
            if self.quitting && self.owed.is_empty() {
                return End::ClientLeft;
            }
        }
    }

    /// What ends the session at a set time: not signing in by `auth_by`, or, with
    /// `close_on_expiry`, the token's expiry.
    fn deadline(&self) -> Option<(tokio::time::Instant, End)> {
        match &self.caller {
            None => Some((self.auth_by, End::AuthTimeout)),
            Some(caller) if self.gate.config.close_on_expiry => Some((caller.expires_at, End::TokenExpired)),
            Some(_) => None,
        }
    }

    /// Every whole command in the buffer, in order; then one write upstream.
    async fn on_client_bytes(&mut self) -> Result<(), End> {
        let mut buf = std::mem::take(&mut self.from_client);
        let limits = Limits { max_bulk: self.gate.config.max_bulk, ..Limits::CLIENT };
        let outcome = loop {
            match parse_command(&buf, &limits, &mut self.args) {
                Ok(Some(taken)) => {
                    let result = self.on_command(&buf[..taken]).await;
                    buf.advance(taken);
                    if let Err(end) = result {
                        break Err(end);
                    }
                    if self.quitting {
                        break Ok(());
                    }
                }
                Ok(None) => break Ok(()),
                Err(e) => {
                    // As Redis does: the error, then the connection closes.
                    self.local_error("ERR", &format!("Protocol error: {e}"));
                    self.emit_due();
                    let _ = self.flush().await;
                    break Err(End::ProtocolError);
                }
            }
        };
        self.from_client = buf;
        outcome?;
        self.emit_due();
        self.send_upstream().await
    }

    async fn on_command(&mut self, command: &[u8]) -> Result<(), End> {
        let permissions = self.caller.as_ref().map(|c| c.permissions).unwrap_or_default();
        let decision =
            decide(&self.args, command, self.caller.is_some(), permissions, &self.gate.scripts, &mut self.keys);
        match decision {
            Ok(Decision::Nothing) => {}
            Ok(Decision::Own(own)) => self.own(own, command).await?,
            Ok(Decision::Forward { spec, patterns, reply }) => {
                if self.link.is_shared() && needs_own_connection(spec, reply) {
                    self.own_connection(self.protocol).await?;
                }
                self.forward(spec.name, patterns, reply, command)
            }
            Err(refusal) => {
                if let Some(failed) = self.multi.as_mut() {
                    *failed = true;
                }
                let (code, message) = refusal.code_and_message();
                if self.gate.config.audit_commands && self.caller.is_some() {
                    // The table's spelling of the name, never the client's bytes.
                    let name =
                        self.args.get(command, 0).and_then(crate::commands::lookup).map_or("unknown", |s| s.name);
                    self.audit_command(Audited { command: name, sent: Instant::now() }, format!("-{code}").as_bytes());
                }
                self.local_error(code, message);
            }
        }
        Ok(())
    }

    /// Rewrites the command into the caller's namespace, and notes what it is owed.
    fn forward(&mut self, name: &'static str, patterns: bool, shape: ReplyShape, command: &[u8]) {
        let Some(caller) = &self.caller else { return };
        let audited = self.gate.config.audit_commands.then(|| Audited { command: name, sent: Instant::now() });
        let mut owed = match self.multi {
            Some(_) if !matches!(name, "EXEC" | "DISCARD" | "MULTI" | "WATCH") => Owed::Queued(shape),
            _ => Owed::Reply(shape, audited),
        };
        match name {
            "MULTI" => self.multi = Some(false),
            "DISCARD" => {
                self.multi = None;
                owed = Owed::Discard;
            }
            "EXEC" => {
                let refused_part = self.multi.take() == Some(true);
                if refused_part {
                    self.to_upstream.extend_from_slice(b"*1\r\n$7\r\nDISCARD\r\n");
                    self.unsent += 1;
                    let abort = b"-EXECABORT Transaction discarded because of previous errors.\r\n".to_vec();
                    self.owed.push_back(Owed::Instead(abort));
                    return;
                }
                owed = Owed::Exec(audited);
            }
            _ => {}
        }
        if name == "SCAN" {
            rewrite_scan(&self.args, command, &caller.namespace, &mut self.to_upstream);
        } else {
            rewrite(&self.args, command, &self.keys, patterns, &caller.namespace, &mut self.to_upstream);
        }
        self.unsent += 1;
        if shape == ReplyShape::PubSub {
            // Subscriptions are answered as events, whenever they come: audited as sent.
            if let Some(audited) = audited {
                self.audit_command(audited, b"+");
            }
            // Confirmations and messages come as pub/sub events, not as replies: in RESP3 as
            // pushes; in RESP2 once the connection is in subscribed mode. Before that, in RESP2,
            // a subscription's first confirmation turns the mode on, and an unsubscribe is
            // answered like any command, once per channel it names (or once for none).
            if self.protocol == 2 && !self.subscribed {
                if name.contains("UNSUB") {
                    for _ in 0..self.args.len().saturating_sub(1).max(1) {
                        self.owed.push_back(Owed::Reply(ReplyShape::PubSub, None));
                    }
                } else if !self.owed.iter().any(|o| matches!(o, Owed::Subscribed)) {
                    self.owed.push_back(Owed::Subscribed);
                }
            }
            return;
        }
        self.owed.push_back(owed);
    }

    fn refused(&self, reason: RefusalReason) {
        audit_refused(self.gate, self.peer, reason);
    }

    fn local(&mut self, reply: Vec<u8>) {
        self.owed.push_back(Owed::Local(reply));
    }

    fn local_error(&mut self, code: &str, message: &str) {
        let mut out = BytesMut::new();
        encode::error(&mut out, code, message);
        self.local(out.to_vec());
    }

    /// The gate's own answers that are due: those no Redis reply comes before.
    fn emit_due(&mut self) {
        while let Some(Owed::Local(_)) = self.owed.front() {
            if let Some(Owed::Local(reply)) = self.owed.pop_front() {
                self.to_client.extend_from_slice(&reply);
            }
        }
    }

    /// Waits until everything owed before now has been given (RESET, and before moving to a
    /// connection of the session's own).
    async fn drain_owed(&mut self) -> Result<(), End> {
        self.send_upstream().await?;
        while self.owed.iter().any(|o| !matches!(o, Owed::Local(_))) || self.link.awaiting() {
            self.link.read().await.map_err(|_| End::BackendFailed)?;
            self.on_upstream_bytes()?;
        }
        self.emit_due();
        Ok(())
    }

    /// Moves a session from the shared connections to one of its own, speaking `protocol`,
    /// once the shared ones have answered everything.
    async fn own_connection(&mut self, protocol: u8) -> Result<(), End> {
        self.drain_owed().await?;
        let Some(caller) = &self.caller else { return Err(End::BackendFailed) };
        let Some(pool) = self.gate.pools.get(&caller.account) else { return Err(End::BackendFailed) };
        let lease = pool.acquire(protocol).await.map_err(|e| {
            tracing::warn!(account = %caller.account, error = %e, "no upstream connection of its own for a client");
            End::BackendFailed
        })?;
        self.link = Link::Own { pool, lease };
        Ok(())
    }

    async fn send_upstream(&mut self) -> Result<(), End> {
        if self.to_upstream.is_empty() {
            return Ok(());
        }
        let sent = self.link.send(&mut self.to_upstream, self.unsent).await;
        self.unsent = 0;
        sent.map_err(|_| End::BackendFailed)
    }

    async fn flush(&mut self) -> Result<(), End> {
        if self.to_client.is_empty() {
            return Ok(());
        }
        let sent = self.client.write_all(&self.to_client).await;
        self.to_client.clear();
        if self.to_client.capacity() > 64 * 1024 {
            self.to_client = BytesMut::new();
        }
        sent.map_err(|_| End::ClientFailed)
    }

    /// Lets go of Redis: a connection of the session's own goes back after RESET and a fresh
    /// login when nothing is owed, and is closed otherwise; on the shared ones, replies still
    /// owed are read there and dropped.
    async fn release_upstream(&mut self) {
        let link = std::mem::replace(&mut self.link, Link::None);
        if link.is_none() {
            return;
        }
        metrics::gauge!("ward_redis_sessions_active").decrement(1.0);
        let settled = self.owed.iter().all(|o| matches!(o, Owed::Local(_)));
        if let (Link::Own { pool, lease }, true) = (link, settled) {
            pool.release(lease).await;
        }
    }

    async fn finish(&mut self, end: End) {
        match end {
            End::TokenExpired => self.write_error("ERR", "the access token of this session has expired").await,
            End::ClientIdle => self.write_error("ERR", "idle client timeout").await,
            End::AuthTimeout => {
                self.refused(RefusalReason::Timeout);
                self.write_error("NOAUTH", "authentication timed out").await;
            }
            _ => {}
        }
        let was_authenticated = self.caller.is_some();
        self.release_upstream().await;
        if was_authenticated {
            self.audit(EventKind::Disconnect {
                duration_ms: self.started.elapsed().as_millis() as u64,
                bytes_in: None,
                bytes_out: None,
                outcome: end.as_str(),
                pool_mode: None,
            });
        }
    }

    async fn write_error(&mut self, code: &str, message: &str) {
        let mut out = BytesMut::new();
        encode::error(&mut out, code, message);
        let _ = self.client.write_all(&out).await;
    }

    /// One `statement` line for a command and its reply: the command's name, never its
    /// arguments; the reply's error code, if it is an error; its element count, if an array.
    fn audit_command(&self, audited: Audited, reply: &[u8]) {
        let header = reply.split(|b| *b == b'\r').next().unwrap_or_default();
        let rows = match header.split_first() {
            Some((b'*', count)) => std::str::from_utf8(count).ok().and_then(|c| c.parse().ok()).unwrap_or(0),
            _ => 0,
        };
        let code = match header.split_first() {
            Some((b'-' | b'!', text)) => text.split(|b| *b == b' ').next().and_then(|c| std::str::from_utf8(c).ok()),
            _ => None,
        };
        self.audit(EventKind::Statement {
            statement: audited.command,
            duration_us: audited.sent.elapsed().as_micros() as u64,
            rows,
            outcome: if code.is_some() { "error" } else { "ok" },
            sqlstate: code,
        });
    }

    fn audit(&self, kind: EventKind<'_>) {
        let Some(caller) = &self.caller else { return };
        AuditEvent {
            kind,
            protocol: super::PROTOCOL,
            gate: self.gate.config.listen,
            client_addr: self.peer,
            who: Some(Who::new(&caller.identity, &caller.account)),
        }
        .emit();
    }
}
