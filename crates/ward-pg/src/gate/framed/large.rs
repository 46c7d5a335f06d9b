//! Messages too long to hold (over `STREAM_ABOVE`): routed by their first bytes, then
//! relayed as they arrive, so memory stays flat however large a query, parameter or row is.

use bytes::Buf;

use super::routing::{Expect, emit_simulated, ensure_prepared, named};
use super::{Assignment, Buffers, FramedSession, Outcome, Step, backend_messages, flush};
use crate::gate::conn::{Conn, Failed, Stream};
use crate::gate::statements;
use crate::protocol::backend::PgError;
use crate::protocol::codec::put_cstr;

impl FramedSession<'_> {
    /// A client message too long to hold (`total` bytes, header included): routed by what
    /// its first bytes say, then relayed to the backend as it arrives. A named Parse is the
    /// exception: its server-side name is a digest of all of it, so it is read whole (up to
    /// `max_message_size`) like any message whose kind is never large in honest use.
    pub(super) async fn stream_client_message<S: Stream>(
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

/// A server message too long to hold: rows and copy data, relayed to the client as they
/// arrive, after whatever the client is owed first. Other kinds are never that large in
/// honest use, and are read whole.
pub(super) async fn stream_backend_message<S: Stream>(
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
