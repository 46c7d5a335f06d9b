//! Where each message goes: client messages copied through or rewritten (prepared statements
//! renamed, re-prepared, or answered here), and a queue of what the server owes for every
//! message sent, so each server answer is forwarded, ignored, or preceded by the gate's own.

use std::collections::VecDeque;

use bytes::BytesMut;

use super::{Assignment, Buffers, Step};
use crate::gate::statements::{self, ClientStatements, Prepared};
use crate::protocol::codec::put_frame;

/// What the server will send for something the gate sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Expect {
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

/// Routes one whole client message (`message` includes its header). Messages that need
/// no rewriting are copied through as they came.
pub(super) fn handle_client_message(
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
            let changes_session = statements::may_change_session(body);
            if tag == b'F' || changes_session {
                a.lease.backend.dirty = true;
            }
            // Only text that may change the session can deallocate (one scan on the hot path).
            if tag == b'Q'
                && changes_session
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
pub(super) fn named<'s>(statements: &'s ClientStatements, name: &str) -> Option<&'s Prepared> {
    if name.is_empty() { None } else { statements.get(name) }
}

pub(super) fn ensure_prepared(a: &mut Assignment, p: &Prepared, out: &mut BytesMut) {
    if a.lease.backend.prepared.insert(p.server_name.clone()) {
        statements::encode_parse(out, &p.server_name, &p.definition);
        a.expect.push_back(Expect::Completion { ignore: true, prepares: Some(p.server_name.clone()) });
    }
}

/// Answers the gate owes the client, up to the first answer the server owes.
pub(super) fn emit_simulated(expect: &mut VecDeque<Expect>, to_client: &mut BytesMut) {
    while let Some(Expect::Simulated(tag)) = expect.front() {
        put_frame(to_client, *tag, |_| {});
        expect.pop_front();
    }
}

/// Routes one whole server message (`message` includes its header).
pub(super) fn handle_backend_message(message: &[u8], a: &mut Assignment, bufs: &mut Buffers) -> Step {
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

#[cfg(test)]
mod tests {
    use bytes::BufMut;

    use super::*;
    use crate::gate::backend::Backend;
    use crate::gate::pool::Lease;
    use crate::protocol::codec::put_cstr;

    /// An assignment on a backend whose socket goes nowhere: routing never touches it.
    fn assignment() -> (Assignment, tokio::net::UnixStream) {
        let (backend, peer) = Backend::for_test(None);
        let a = Assignment { lease: Lease::for_test(backend), idle: true, expect: VecDeque::new(), discard: false };
        (a, peer)
    }

    fn message(tag: u8, body: impl FnOnce(&mut BytesMut)) -> BytesMut {
        let mut out = BytesMut::new();
        put_frame(&mut out, tag, body);
        out
    }
    fn parse(name: &str, sql: &str) -> BytesMut {
        message(b'P', |b| {
            put_cstr(b, name);
            put_cstr(b, sql);
            b.put_i16(0);
        })
    }
    fn bind(statement: &str) -> BytesMut {
        message(b'B', |b| {
            put_cstr(b, "");
            put_cstr(b, statement);
            b.put_i16(0);
            b.put_i16(0);
            b.put_i16(0);
        })
    }
    fn execute() -> BytesMut {
        message(b'E', |b| {
            put_cstr(b, "");
            b.put_i32(0);
        })
    }
    fn sync() -> BytesMut {
        message(b'S', |_| {})
    }
    fn server(tag: u8) -> BytesMut {
        message(tag, |b| match tag {
            b'Z' => b.put_u8(b'I'),
            b'C' => put_cstr(b, "SELECT 1"),
            b'E' => {
                b.put_u8(b'C');
                put_cstr(b, "22012");
                b.put_u8(0);
            }
            _ => {}
        })
    }

    /// Sends client messages through routing; returns what goes to the backend and what the
    /// gate answers the client itself.
    fn from_client(a: &mut Assignment, statements: &mut ClientStatements, messages: &[BytesMut]) -> (Vec<u8>, Vec<u8>) {
        let (mut out, mut to_client) = (BytesMut::new(), BytesMut::new());
        for m in messages {
            handle_client_message(m, a, statements, &mut out, &mut to_client);
        }
        (tags(&out), tags(&to_client))
    }

    /// Server messages through routing; returns the tags the client sees and the last step.
    fn from_server(a: &mut Assignment, messages: &[u8]) -> (Vec<u8>, Step) {
        let mut bufs = Buffers::default();
        let mut step = Step::Continue;
        for tag in messages {
            step = handle_backend_message(&server(*tag), a, &mut bufs);
        }
        (tags(&bufs.to_client), step)
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
    async fn an_error_skips_to_sync_and_the_backend_is_released_at_idle() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        from_client(&mut a, &mut statements, &[parse("", "select 1/0"), bind(""), execute(), sync()]);
        assert_eq!(a.expect.len(), 4);
        // ErrorResponse answers the Parse; PostgreSQL skips Bind and Execute until the Sync.
        let (seen, step) = from_server(&mut a, b"EZ");
        assert_eq!(seen, b"EZ");
        assert!(matches!(step, Step::Release));
        assert!(a.expect.is_empty());
    }

    #[tokio::test]
    async fn a_pipeline_releases_only_after_its_last_sync() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        let one = [parse("", "select 1"), bind(""), execute(), sync()];
        from_client(&mut a, &mut statements, &[&one[..], &one[..]].concat());
        let (_, step) = from_server(&mut a, b"12CZ");
        assert!(matches!(step, Step::Continue), "a second Sync is still owed");
        let (_, step) = from_server(&mut a, b"12CZ");
        assert!(matches!(step, Step::Release));
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
        assert!(matches!(step, Step::Release));
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
        assert!(matches!(step, Step::Release));
        // Should the gate's own Parse fail, the session cannot go on as the client expects.
        let (mut a, _peer) = assignment();
        from_client(&mut a, &mut statements, &[bind("s1"), execute(), sync()]);
        let (_, step) = from_server(&mut a, b"E");
        assert!(matches!(step, Step::Abort));
    }

    #[tokio::test]
    async fn inside_a_transaction_the_backend_stays() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        from_client(&mut a, &mut statements, &[message(b'Q', |b| put_cstr(b, "begin"))]);
        let mut bufs = Buffers::default();
        handle_backend_message(&server(b'C'), &mut a, &mut bufs);
        let step = handle_backend_message(&message(b'Z', |b| b.put_u8(b'T')), &mut a, &mut bufs);
        assert!(matches!(step, Step::Continue));
        assert!(!a.idle);
    }

    #[tokio::test]
    async fn session_changes_mark_the_backend_for_a_same_identity_reset() {
        let (mut a, _peer) = assignment();
        let mut statements = ClientStatements::default();
        from_client(&mut a, &mut statements, &[message(b'Q', |b| put_cstr(b, "select 1"))]);
        assert!(!a.lease.backend.dirty);
        from_client(&mut a, &mut statements, &[message(b'Q', |b| put_cstr(b, "set search_path = x"))]);
        assert!(a.lease.backend.dirty);
        from_client(&mut a, &mut statements, &[message(b'Q', |b| put_cstr(b, "deallocate all"))]);
        assert!(a.discard, "prepared-statement bookkeeping is no longer certain");
    }
}
