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
