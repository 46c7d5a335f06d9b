//! Replies from Redis, given back in the order the commands came: keys stripped by each
//! command's shape, a transaction's replies each by its command's, pub/sub events (RESP3
//! pushes, RESP2 subscribed mode) whenever they come.

use bytes::Buf;

use super::{End, Owed, Session};
use crate::dispatch::ReplyShape;
use crate::protocol::{Limits, frame_len};
use crate::replies::{first_bulk, give_back, give_back_exec};

impl Session<'_> {
    /// Every whole reply read from Redis, given back in order.
    pub(super) fn on_upstream_bytes(&mut self) -> Result<(), End> {
        let Some(buf) = self.link.buf() else { return Ok(()) };
        let mut buf = std::mem::take(buf);
        let result = loop {
            let len = match frame_len(&buf, &Limits::SERVER) {
                Ok(Some(len)) => len,
                Ok(None) => break Ok(()),
                Err(_) => break Err(End::BackendFailed),
            };
            let routed = self.on_reply(&buf[..len]);
            buf.advance(len);
            if let Err(end) = routed {
                break Err(end);
            }
        };
        if let Some(kept) = self.link.buf() {
            *kept = buf;
        }
        result
    }

    fn on_reply(&mut self, reply: &[u8]) -> Result<(), End> {
        self.emit_due();
        let Some(caller) = &self.caller else { return Err(End::BackendFailed) };
        let ns = &caller.namespace;
        let pubsub_event = reply.first() == Some(&b'>') || (self.subscribed && is_pubsub_event(reply));
        let given = if pubsub_event {
            if self.subscribed && is_last_unsubscribe(reply) {
                self.subscribed = false;
            }
            give_back(ReplyShape::PubSub, reply, ns, &mut self.to_client)
        } else {
            match self.owed.pop_front() {
                Some(Owed::Reply(shape, audited)) => {
                    if let Some(audited) = audited {
                        self.audit_command(audited, reply);
                    }
                    give_back(shape, reply, ns, &mut self.to_client)
                }
                Some(Owed::Queued(shape)) => {
                    if reply == b"+QUEUED\r\n" {
                        self.queued.push(shape);
                    }
                    give_back(ReplyShape::AsIs, reply, ns, &mut self.to_client)
                }
                Some(Owed::Exec(audited)) => {
                    if let Some(audited) = audited {
                        self.audit_command(audited, reply);
                    }
                    let shapes = std::mem::take(&mut self.queued);
                    give_back_exec(reply, &shapes, ns, &mut self.to_client)
                }
                Some(Owed::Discard) => {
                    self.queued.clear();
                    give_back(ReplyShape::AsIs, reply, ns, &mut self.to_client)
                }
                Some(Owed::Instead(bytes)) => {
                    self.queued.clear();
                    self.to_client.extend_from_slice(&bytes);
                    Ok(())
                }
                Some(Owed::Subscribed) => {
                    self.subscribed = true;
                    give_back(ReplyShape::PubSub, reply, ns, &mut self.to_client)
                }
                // A reply nobody asked for: the upstream is not where the gate thinks.
                Some(Owed::Local(_)) | None => return Err(End::BackendFailed),
            }
        };
        given.map_err(|e| {
            tracing::warn!(error = %e, "a reply from Redis could not be given back");
            End::BackendFailed
        })?;
        self.emit_due();
        Ok(())
    }
}

/// RESP2 subscribed mode: an array whose first element names a pub/sub event.
fn is_pubsub_event(reply: &[u8]) -> bool {
    const EVENTS: [&[u8]; 9] = [
        b"message",
        b"pmessage",
        b"smessage",
        b"subscribe",
        b"unsubscribe",
        b"psubscribe",
        b"punsubscribe",
        b"ssubscribe",
        b"sunsubscribe",
    ];
    reply.first() == Some(&b'*')
        && first_bulk(reply).is_some_and(|kind| EVENTS.iter().any(|e| kind.eq_ignore_ascii_case(e)))
}

/// An unsubscribe confirmation that leaves no subscription.
fn is_last_unsubscribe(reply: &[u8]) -> bool {
    first_bulk(reply).is_some_and(|kind| kind.ends_with(b"unsubscribe")) && reply.ends_with(b":0\r\n")
}
