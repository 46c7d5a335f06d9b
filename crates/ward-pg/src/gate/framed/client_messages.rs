//! Where each client message goes: copied through as it came, or rewritten (prepared
//! statements renamed, or prepared again on a backend that lacks them), or answered here;
//! each leaves what the server owes for it in the expectation queue.

use bytes::{Buf, BytesMut};

use super::expect::Reply;
use super::{Assignment, FramedLoop, SessionEnd, Step, clear_keeping_small, complete_len, is_terminate};
use crate::gate::conn::{Conn, Incoming, Stream};
use crate::gate::session_state::{may_change_session, may_deallocate};
use crate::gate::statements::{ClientStatements, Prepared};
use crate::protocol::codec::put_frame;
use crate::protocol::frontend::{
    encode_bind, encode_parse, encode_target, query_text, split_bind, split_parse, split_target,
};
use crate::protocol::tag::{backend as server, frontend as client, target};

impl FramedLoop<'_> {
    /// What the client sent: whole messages in place, a large one as it arrives. The first
    /// message of a transaction takes a backend.
    pub(super) async fn on_client_input<S: Stream>(&mut self, incoming: Incoming, client: &mut Conn<S>) -> Step {
        if self.assigned.is_none() {
            if matches!(incoming, Incoming::Whole(_)) && is_terminate(&client.buf) {
                return Step::End(SessionEnd::ClientLeft);
            }
            if let Err(e) = self.take_backend().await {
                return Step::End(SessionEnd::NoBackend(e));
            }
        }
        let sent = match incoming {
            Incoming::Whole(len) => self.pass_on(len, client).await,
            Incoming::Large(total) => self.stream_client_message(total, client).await,
        };
        match sent {
            Ok(()) => Step::Continue,
            Err(end) => Step::End(end),
        }
    }

    /// Handles the first buffered message (`first` bytes long) and every complete one
    /// behind it, in place, then sends the result to the backend in one write.
    pub(super) async fn pass_on<S: Stream>(&mut self, first: usize, client: &mut Conn<S>) -> Result<(), SessionEnd> {
        let mut buf = std::mem::take(&mut client.buf);
        let mut next = Some(first);
        while let Some(len) = next.take().or_else(|| complete_len(&buf, self.settings.max_message)) {
            let message = &buf[..len];
            if is_terminate(message) {
                return Err(SessionEnd::ClientLeft);
            }
            self.bytes_in += len as u64;
            if let Some((audit, _)) = self.audit.as_mut() {
                audit.client(message[0], &message[5..]);
            }
            if let Some(a) = self.assigned.as_mut() {
                route_client_message(message, a, &mut self.statements, &mut self.to_backend, &mut self.to_client);
            }
            buf.advance(len);
        }
        client.buf = buf;
        client.shrink();
        self.send_to_backend().await
    }

    /// Writes what has been routed to the backend, in one write.
    pub(super) async fn send_to_backend(&mut self) -> Result<(), SessionEnd> {
        if self.to_backend.is_empty() {
            return Ok(());
        }
        let Some(a) = self.assigned.as_mut() else { return Err(SessionEnd::BackendFailed) };
        let sent = a.lease.backend.conn.send(&self.to_backend).await;
        clear_keeping_small(&mut self.to_backend);
        sent.map_err(|_| SessionEnd::BackendFailed)
    }
}

/// Routes one whole client message (`message` includes its header) onto `out`, the bytes for
/// the backend, recording what the server will owe for it. Messages that need no rewriting
/// are copied through as they came; answers the gate owes and that are due go to `to_client`.
pub fn route_client_message(
    message: &[u8],
    a: &mut Assignment,
    statements: &mut ClientStatements,
    out: &mut BytesMut,
    to_client: &mut BytesMut,
) {
    let (tag, body) = (message[0], &message[5..]);
    let mut as_it_came = true;
    match tag {
        client::PARSE => {
            let parsed = split_parse(body);
            if let Some((_, definition)) = parsed
                && may_change_session(query_text(definition))
            {
                a.lease.backend.dirty = true;
            }
            match parsed {
                Some((name, definition)) if !name.is_empty() => {
                    as_it_came = false;
                    let prepared = statements.insert(name, definition);
                    if a.lease.backend.prepared.contains(&prepared.server_name) {
                        a.expect.simulate(server::PARSE_COMPLETE);
                    } else {
                        encode_parse(out, &prepared.server_name, &prepared.definition);
                        a.lease.backend.prepared.insert(prepared.server_name.clone());
                        a.expect.expect(Reply::Completion { prepares: Some(prepared.server_name.clone()) });
                    }
                }
                _ => a.expect.expect(Reply::Completion { prepares: None }),
            }
        }
        client::BIND => {
            if let Some((portal, name, rest)) = split_bind(body)
                && let Some(p) = statements.named(name)
            {
                as_it_came = false;
                ensure_prepared(a, p, out);
                encode_bind(out, portal, &p.server_name, rest);
            }
            a.expect.expect(Reply::Completion { prepares: None });
        }
        client::DESCRIBE => {
            if let Some((target::STATEMENT, name)) = split_target(body)
                && let Some(p) = statements.named(name)
            {
                as_it_came = false;
                ensure_prepared(a, p, out);
                encode_target(out, client::DESCRIBE, target::STATEMENT, &p.server_name);
            }
            a.expect.expect(Reply::Describe);
        }
        client::CLOSE => match split_target(body) {
            // The server copy stays for the next client with the same statement.
            Some((target::STATEMENT, name)) if statements.named(name).is_some() => {
                as_it_came = false;
                statements.remove(name);
                a.expect.simulate(server::CLOSE_COMPLETE);
            }
            _ => a.expect.expect(Reply::Completion { prepares: None }),
        },
        client::EXECUTE => a.expect.expect(Reply::Execute),
        client::SYNC => a.expect.expect(Reply::Sync),
        client::QUERY | client::FUNCTION_CALL => {
            let changes_session = may_change_session(body);
            if tag == client::FUNCTION_CALL || changes_session {
                a.lease.backend.dirty = true;
            }
            // Only text that may change the session can deallocate (one scan on the hot path).
            if tag == client::QUERY && changes_session && may_deallocate(body) {
                a.discard = true;
            }
            a.expect.expect(Reply::UntilReady);
        }
        _ => {}
    }
    if as_it_came {
        out.extend_from_slice(message);
    }
    emit_simulated(a, to_client);
}

/// Prepares `p` on this backend first if it lacks it; the answer is the gate's own.
pub fn ensure_prepared(a: &mut Assignment, p: &Prepared, out: &mut BytesMut) {
    if a.lease.backend.prepared.insert(p.server_name.clone()) {
        encode_parse(out, &p.server_name, &p.definition);
        a.expect.ignore(p.server_name.clone());
    }
}

/// Answers the gate owes the client, up to the first answer the server owes.
pub fn emit_simulated(a: &mut Assignment, to_client: &mut BytesMut) {
    while let Some(tag) = a.expect.take_simulated() {
        put_frame(to_client, tag, |_| {});
    }
}
