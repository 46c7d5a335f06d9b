//! Messages too long to hold (over `STREAM_ABOVE`): routed by their first bytes, then
//! relayed as they arrive, so memory stays flat however large a query, parameter or row is.

use bytes::Buf;

use super::client_messages::{emit_simulated, ensure_prepared};
use super::expect::Reply;
use super::{FramedLoop, SessionEnd, Step};
use crate::gate::conn::{Conn, Failed, Stream};
use crate::gate::session_state::may_deallocate;
use crate::protocol::backend::PgError;
use crate::protocol::codec::put_cstr;
use crate::protocol::frontend::split_bind;
use crate::protocol::tag::{backend as server, frontend as client};

impl FramedLoop<'_> {
    /// A client message too long to hold (`total` bytes, header included): routed by what
    /// its first bytes say, then relayed to the backend as it arrives. A named Parse is the
    /// exception: its server-side name is a digest of all of it, so it is read whole (up to
    /// `max_message_size`) like any message whose kind is never large in honest use.
    pub(super) async fn stream_client_message<S: Stream>(
        &mut self,
        total: usize,
        client: &mut Conn<S>,
    ) -> Result<(), SessionEnd> {
        let tag = client.buf[0];
        let names = match tag {
            client::PARSE => 1,
            client::BIND => 2,
            client::QUERY | client::FUNCTION_CALL | client::COPY_DATA => 0,
            _ => return self.read_whole(total, client).await,
        };
        let Ok(Some(after_names)) = names_end(client, total, names).await else {
            return Err(SessionEnd::BadMessage(PgError::fatal("08P01", "malformed message")));
        };
        if tag == client::PARSE && client.buf.get(5) != Some(&0) {
            return self.read_whole(total, client).await;
        }
        let Some(a) = self.assigned.as_mut() else { return Err(SessionEnd::BackendFailed) };
        let head = &client.buf[5..after_names.max(5)];
        let mut skip = 0;
        match tag {
            client::PARSE => a.expect.expect(Reply::Completion { prepares: None }),
            client::BIND => {
                if let Some((portal, name, _)) = split_bind(head)
                    && let Some(p) = self.statements.named(name)
                {
                    // Renamed: a new header and names, then the rest as it comes.
                    ensure_prepared(a, p, &mut self.to_backend);
                    let rest = total - after_names;
                    let body = portal.len() + 1 + p.server_name.len() + 1 + rest;
                    self.to_backend.extend_from_slice(&[client::BIND]);
                    self.to_backend.extend_from_slice(&((body + 4) as i32).to_be_bytes());
                    put_cstr(&mut self.to_backend, portal);
                    put_cstr(&mut self.to_backend, &p.server_name);
                    skip = after_names;
                }
                // After the gate's own Parse, if one was needed: answers come in order.
                a.expect.expect(Reply::Completion { prepares: None });
            }
            client::QUERY | client::FUNCTION_CALL => {
                // Not scanned whole: assume the worst for same-identity sharing.
                a.lease.backend.dirty = true;
                if may_deallocate(&client.buf[5..]) {
                    a.discard = true;
                }
                a.expect.expect(Reply::UntilReady);
            }
            _ => {}
        }
        self.bytes_in += total as u64;
        if let Some((audit, _)) = self.audit.as_mut() {
            audit.client(tag, &client.buf[5..]);
        }
        self.send_to_backend().await?;
        let Some(a) = self.assigned.as_mut() else { return Err(SessionEnd::BackendFailed) };
        client.buf.advance(skip);
        match client.forward(&mut a.lease.backend.conn.stream, total - skip).await {
            Ok(()) => Ok(()),
            Err(Failed::Reading) => Err(SessionEnd::ClientLeft),
            Err(Failed::Writing) => Err(SessionEnd::BackendFailed),
        }
    }

    /// Reads all of a message that is not relayed as it arrives, then handles it in place.
    async fn read_whole<S: Stream>(&mut self, total: usize, client: &mut Conn<S>) -> Result<(), SessionEnd> {
        if client.buffer_at_least(total).await.is_err() {
            return Err(SessionEnd::ClientLeft);
        }
        self.pass_on(total, client).await
    }

    /// A server message too long to hold: rows and copy data, relayed to the client as they
    /// arrive, after whatever the client is owed first. Other kinds are never that large in
    /// honest use, and are read whole.
    pub(super) async fn stream_server_message<S: Stream>(&mut self, total: usize, client: &mut Conn<S>) -> Step {
        let Some(a) = self.assigned.as_mut() else { return Step::End(SessionEnd::BackendFailed) };
        let conn = &mut a.lease.backend.conn;
        let tag = conn.buf[0];
        if !matches!(tag, server::DATA_ROW | server::COPY_DATA) || a.expect.ignoring() {
            if conn.buffer_at_least(total).await.is_err() {
                return Step::End(SessionEnd::BackendFailed);
            }
            return self.server_messages(total);
        }
        emit_simulated(a, &mut self.to_client);
        if let Err(end) = self.flush(client).await {
            return Step::End(end);
        }
        let Some(a) = self.assigned.as_mut() else { return Step::End(SessionEnd::BackendFailed) };
        match a.lease.backend.conn.forward(&mut client.stream, total).await {
            Ok(()) => {
                self.bytes_out += total as u64;
                Step::Continue
            }
            Err(Failed::Reading) => Step::End(SessionEnd::BackendFailed),
            Err(Failed::Writing) => Step::End(SessionEnd::ClientFailed),
        }
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
