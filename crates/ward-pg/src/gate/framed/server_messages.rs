//! Where each server message goes: to the client as it came, or nowhere (answers to the
//! gate's own messages), after whatever answers the gate owes the client first. An idle
//! ReadyForQuery with nothing owed settles the backend.

use bytes::{Buf, BytesMut};

use super::client_messages::emit_simulated;
use super::expect::Action;
use super::{Assignment, FramedLoop, SERVER_MAX, SessionEnd, Step, complete_len};
use crate::gate::audit::{FinishedStatement, StatementAudit};
use crate::gate::conn::{Conn, Incoming, Stream};
use crate::protocol::tag::{backend as server, status};

impl FramedLoop<'_> {
    /// What the backend sent: whole messages in place, a large one as it arrives.
    pub(super) async fn on_server_input<S: Stream>(&mut self, incoming: Incoming, client: &mut Conn<S>) -> Step {
        match incoming {
            Incoming::Whole(len) => self.server_messages(len),
            Incoming::Large(total) => self.stream_server_message(total, client).await,
        }
    }

    /// Every whole server message already read (the first `first` bytes long), handled in
    /// place and copied out as it came if the client is to see it.
    pub(super) fn server_messages(&mut self, first: usize) -> Step {
        let Some(a) = self.assigned.as_mut() else { return Step::End(SessionEnd::BackendFailed) };
        let mut buf = std::mem::take(&mut a.lease.backend.conn.buf);
        let mut step = Step::Continue;
        let mut next = Some(first);
        let (mut audit, trail) = match self.audit.as_mut() {
            Some((audit, trail)) => (Some(audit), Some(&*trail)),
            None => (None, None),
        };
        let mut finished = None;
        while let Some(len) = next.take().or_else(|| complete_len(&buf, SERVER_MAX)) {
            let this = route_server_message(&buf[..len], a, &mut self.to_client, audit.as_deref_mut(), &mut finished);
            buf.advance(len);
            if let (Some(statement), Some(trail)) = (finished.take(), trail) {
                trail.emit(&statement);
            }
            match this {
                Step::Continue => {}
                Step::Settled => step = Step::Settled,
                end => return end,
            }
        }
        a.lease.backend.conn.buf = buf;
        a.lease.backend.conn.shrink();
        step
    }
}

/// Routes one whole server message (`message` includes its header). A statement the audit
/// sees finish is left in `finished`.
pub fn route_server_message(
    message: &[u8],
    a: &mut Assignment,
    to_client: &mut BytesMut,
    audit: Option<&mut StatementAudit>,
    finished: &mut Option<FinishedStatement>,
) -> Step {
    emit_simulated(a, to_client);
    let (tag, body) = (message[0], &message[5..]);
    let prepared = &mut a.lease.backend.prepared;
    let action = a.expect.on_server_message(tag, |name| {
        prepared.remove(name);
    });
    let mut step = Step::Continue;
    match action {
        Action::GateFailed => return Step::End(SessionEnd::SetupFailed),
        Action::Ignore => {}
        Action::Forward => {
            if let Some(audit) = audit {
                *finished = audit.server(tag, body);
            }
            to_client.extend_from_slice(message);
        }
    }
    if tag == server::READY_FOR_QUERY {
        a.idle = body.first().copied().unwrap_or(status::IDLE) == status::IDLE;
        if a.settled() {
            step = Step::Settled;
        }
    }
    emit_simulated(a, to_client);
    step
}

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;
    use crate::gate::backend::Backend;
    use crate::gate::framed::client_messages::route_client_message;
    use crate::gate::framed::expect::ExpectQueue;
    use crate::gate::pool::Lease;
    use crate::gate::statements::ClientStatements;
    use crate::protocol::codec::{put_cstr, put_frame};
    use crate::protocol::tag::frontend as client;

    /// An assignment on a backend whose socket goes nowhere: routing never touches it.
    fn assignment() -> (Assignment, tokio::net::UnixStream) {
        let (backend, peer) = Backend::for_test(None);
        let a =
            Assignment { lease: Lease::for_test(backend), idle: true, expect: ExpectQueue::default(), discard: false };
        (a, peer)
    }

    fn message(tag: u8, body: impl FnOnce(&mut BytesMut)) -> BytesMut {
        let mut out = BytesMut::new();
        put_frame(&mut out, tag, body);
        out
    }
    fn parse(name: &str, sql: &str) -> BytesMut {
        message(client::PARSE, |b| {
            put_cstr(b, name);
            put_cstr(b, sql);
            b.put_i16(0);
        })
    }
    fn bind(statement: &str) -> BytesMut {
        message(client::BIND, |b| {
            put_cstr(b, "");
            put_cstr(b, statement);
            b.put_i16(0);
            b.put_i16(0);
            b.put_i16(0);
        })
    }
    fn execute() -> BytesMut {
        message(client::EXECUTE, |b| {
            put_cstr(b, "");
            b.put_i32(0);
        })
    }
    fn sync() -> BytesMut {
        message(client::SYNC, |_| {})
    }
    fn server(tag: u8) -> BytesMut {
        message(tag, |b| match tag {
            server::READY_FOR_QUERY => b.put_u8(status::IDLE),
            server::COMMAND_COMPLETE => put_cstr(b, "SELECT 1"),
            server::ERROR_RESPONSE => {
                b.put_u8(b'C');
                put_cstr(b, "22012");
                b.put_u8(0);
            }
            _ => {}
        })
    }

    /// Client messages through routing: the tags sent to the backend, and those the gate
    /// answers the client itself.
    fn from_client(a: &mut Assignment, statements: &mut ClientStatements, messages: &[BytesMut]) -> (Vec<u8>, Vec<u8>) {
        let (mut out, mut to_client) = (BytesMut::new(), BytesMut::new());
        for m in messages {
            route_client_message(m, a, statements, &mut out, &mut to_client);
        }
        (tags(&out), tags(&to_client))
    }

    /// Server messages through routing: the tags the client sees, and the last step.
    fn from_server(a: &mut Assignment, messages: &[u8]) -> (Vec<u8>, Step) {
        let mut to_client = BytesMut::new();
        let mut step = Step::Continue;
        for tag in messages {
            step = route_server_message(&server(*tag), a, &mut to_client, None, &mut None);
        }
        (tags(&to_client), step)
    }

    fn tags(bytes: &[u8]) -> Vec<u8> {
        let (mut at, mut tags) = (0, Vec::new());
        while at + 5 <= bytes.len() {
            tags.push(bytes[at]);
            at += 1 + i32::from_be_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]]) as usize;
        }
        tags
    }

    #[tokio::test]
    async fn an_error_skips_to_sync_and_the_backend_settles_at_idle() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        from_client(&mut a, &mut statements, &[parse("", "select 1/0"), bind(""), execute(), sync()]);
        assert_eq!(a.expect.len(), 4);
        let (seen, step) = from_server(&mut a, b"EZ");
        assert_eq!(seen, b"EZ");
        assert!(matches!(step, Step::Settled));
    }

    #[tokio::test]
    async fn a_statement_already_prepared_is_answered_by_the_gate_in_its_turn() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        // First client use: the statement is prepared under its content name.
        let (sent, answered) = from_client(&mut a, &mut statements, &[parse("s1", "select 1"), sync()]);
        assert_eq!((sent, answered), (b"PS".to_vec(), Vec::new()));
        let (seen, _) = from_server(&mut a, b"1Z");
        assert_eq!(seen, b"1Z");
        // The same statement again: nothing to send for the Parse; ParseComplete comes from
        // the gate, but only after what the server still owes before it.
        let (sent, answered) =
            from_client(&mut a, &mut statements, &[bind("s1"), execute(), parse("s1", "select 1"), sync()]);
        assert_eq!(sent, b"BES");
        assert!(answered.is_empty(), "the server's BindComplete and rows come first");
        let (seen, step) = from_server(&mut a, b"2CZ");
        assert_eq!(seen, b"2C1Z");
        assert!(matches!(step, Step::Settled));
    }

    #[tokio::test]
    async fn a_statement_missing_on_this_backend_is_prepared_again_unseen() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        statements.insert("s1", b"select 1\0\0\0");
        let (sent, _) = from_client(&mut a, &mut statements, &[bind("s1"), execute(), sync()]);
        assert_eq!(sent, b"PBES", "the gate's own Parse goes first");
        let (seen, step) = from_server(&mut a, b"12CZ");
        assert_eq!(seen, b"2CZ", "its ParseComplete is not the client's to see");
        assert!(matches!(step, Step::Settled));
        // Should the gate's own Parse fail, the session cannot go on as the client expects.
        let (mut a, _peer) = assignment();
        from_client(&mut a, &mut statements, &[bind("s1"), execute(), sync()]);
        let (_, step) = from_server(&mut a, b"E");
        assert!(matches!(step, Step::End(SessionEnd::SetupFailed)));
    }

    #[tokio::test]
    async fn a_failed_prepare_is_forgotten_so_the_next_use_prepares_again() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        from_client(&mut a, &mut statements, &[parse("s1", "select nope"), bind("s1"), execute(), sync()]);
        assert_eq!(a.lease.backend.prepared.len(), 1);
        from_server(&mut a, b"EZ");
        assert!(a.lease.backend.prepared.is_empty(), "the server never created it");
        let (sent, _) = from_client(&mut a, &mut statements, &[bind("s1"), sync()]);
        assert_eq!(sent, b"PBS");
    }

    #[tokio::test]
    async fn inside_a_transaction_the_backend_stays() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        from_client(&mut a, &mut statements, &[message(client::QUERY, |b| put_cstr(b, "begin"))]);
        let mut to_client = BytesMut::new();
        route_server_message(&server(server::COMMAND_COMPLETE), &mut a, &mut to_client, None, &mut None);
        let in_transaction = message(server::READY_FOR_QUERY, |b| b.put_u8(status::IN_TRANSACTION));
        let step = route_server_message(&in_transaction, &mut a, &mut to_client, None, &mut None);
        assert!(matches!(step, Step::Continue));
        assert!(!a.idle);
    }

    #[tokio::test]
    async fn session_changes_mark_the_backend_for_a_same_identity_reset() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        from_client(&mut a, &mut statements, &[message(client::QUERY, |b| put_cstr(b, "select 1"))]);
        assert!(!a.lease.backend.dirty);
        from_client(&mut a, &mut statements, &[message(client::QUERY, |b| put_cstr(b, "set search_path = x"))]);
        assert!(a.lease.backend.dirty);
        from_client(&mut a, &mut statements, &[message(client::QUERY, |b| put_cstr(b, "deallocate all"))]);
        assert!(a.discard, "prepared-statement bookkeeping is no longer certain");
    }
}
