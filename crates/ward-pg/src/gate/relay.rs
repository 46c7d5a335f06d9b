//! Session relay: bytes flow both ways untouched, while a light tracker follows message
//! boundaries — to stop at the client's Terminate, to count queries against ReadyForQuery,
//! and so to know whether the backend connection is clean enough to go back to the pool.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// When the session last moved, and whether it is waiting for the client (the server's last
/// word was ReadyForQuery): what an idle timeout needs, shared by both directions.
pub struct Activity {
    base: std::time::Instant,
    last_ms: std::sync::atomic::AtomicU64,
    waiting_for_client: std::sync::atomic::AtomicBool,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            base: std::time::Instant::now(),
            last_ms: Default::default(),
            waiting_for_client: std::sync::atomic::AtomicBool::new(true),
        }
    }
}

impl Activity {
    fn touch(&self, waiting_for_client: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.last_ms.store(self.base.elapsed().as_millis() as u64, Relaxed);
        self.waiting_for_client.store(waiting_for_client, Relaxed);
    }

    /// How long the client has kept the session waiting, if it is the one to speak next.
    pub fn client_idle_for(&self) -> Option<std::time::Duration> {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.waiting_for_client.load(Relaxed) {
            return None;
        }
        let last = std::time::Duration::from_millis(self.last_ms.load(Relaxed));
        Some(self.base.elapsed().saturating_sub(last))
    }
}

/// Follows message boundaries in one direction without buffering whole messages.
#[derive(Default)]
pub struct FrameTracker {
    /// Body bytes left in the current message.
    remaining: usize,
    /// The next body byte is a ReadyForQuery status.
    status_next: bool,
    /// Transaction status from the latest ReadyForQuery (`I`, `T` or `E`).
    pub last_ready: Option<u8>,
    /// Messages that will be answered by a ReadyForQuery (Query, Sync, FunctionCall) — or,
    /// from the backend, ReadyForQuery messages seen.
    pub sync_points: u64,
    /// The tag of the last message header seen.
    pub last_tag: u8,
}

pub struct Scan {
    /// Bytes of the input that may be forwarded now.
    pub forward: usize,
    /// A Terminate message starts at `forward`.
    pub terminate: bool,
    /// The stream is not PostgreSQL protocol.
    pub broken: bool,
}

impl FrameTracker {
    /// Scans `data`, which starts where the last scan stopped. Incomplete message headers at
    /// the end are left out of `forward`, to be scanned again with more data.
    pub fn scan(&mut self, data: &[u8], from_client: bool) -> Scan {
        let mut i = 0;
        loop {
            if self.remaining > 0 {
                if i >= data.len() {
                    return Scan { forward: i, terminate: false, broken: false };
                }
                if self.status_next {
                    self.last_ready = Some(data[i]);
                    self.status_next = false;
                }
                let n = self.remaining.min(data.len() - i);
                self.remaining -= n;
                i += n;
                continue;
            }
            if data.len() - i < 5 {
                return Scan { forward: i, terminate: false, broken: false };
            }
            let tag = data[i];
            let len = i32::from_be_bytes([data[i + 1], data[i + 2], data[i + 3], data[i + 4]]);
            if len < 4 {
                return Scan { forward: i, terminate: false, broken: true };
            }
            if from_client && tag == b'X' {
                return Scan { forward: i, terminate: true, broken: false };
            }
            let counts = if from_client { matches!(tag, b'Q' | b'S' | b'F') } else { tag == b'Z' };
            if counts {
                self.sync_points += 1;
            }
            self.last_tag = tag;
            self.remaining = len as usize - 4;
            self.status_next = !from_client && tag == b'Z' && self.remaining > 0;
            i += 5;
        }
    }

    /// Between messages.
    pub fn at_boundary(&self) -> bool {
        self.remaining == 0
    }
}

/// One direction's state, inspected after the relay ends.
#[derive(Default)]
pub struct Direction {
    pub tracker: FrameTracker,
    pub bytes: u64,
    /// Bytes read but not yet forwarded (an incomplete header).
    pending: BytesMut,
    /// A write was under way when the relay stopped.
    writing: bool,
}

impl Direction {
    pub fn quiet(&self) -> bool {
        self.tracker.at_boundary() && self.pending.is_empty() && !self.writing
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The client sent Terminate or closed its side.
    ClientLeft,
    /// The backend closed, failed, or spoke something that is not the protocol.
    BackendFailed,
    /// Writing to the client failed.
    ClientFailed,
    /// The session's token expired (with `close_on_expiry`).
    TokenExpired,
    /// The client stayed silent longer than `client_idle_timeout`.
    ClientIdle,
}

/// Pumps `from` into `to` until EOF, error or Terminate. Reads go into one reused buffer
/// and are forwarded from it directly; only an incomplete header is carried over.
async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    from: &mut R,
    to: &mut W,
    state: &mut Direction,
    from_client: bool,
    initial: BytesMut,
    activity: &Activity,
) -> End {
    let (read_fail, write_fail) =
        if from_client { (End::ClientLeft, End::BackendFailed) } else { (End::BackendFailed, End::ClientFailed) };
    let mut buf = initial;
    loop {
        if !buf.is_empty() {
            let carried = !state.pending.is_empty();
            if carried {
                state.pending.extend_from_slice(&buf);
                buf.clear();
                std::mem::swap(&mut buf, &mut state.pending);
            }
            let scan = state.tracker.scan(&buf, from_client);
            if scan.broken {
                return if from_client { End::ClientLeft } else { End::BackendFailed };
            }
            if scan.forward > 0 {
                state.writing = true;
                if to.write_all(&buf[..scan.forward]).await.is_err() {
                    return write_fail;
                }
                state.writing = false;
                state.bytes += scan.forward as u64;
            }
            if scan.terminate {
                return End::ClientLeft;
            }
            // The client spoke, so it is not idle; the server finished with ReadyForQuery,
            // so now the client is the one to speak.
            let server_done = state.tracker.at_boundary() && state.tracker.last_tag == b'Z';
            activity.touch(!from_client && server_done);
            if scan.forward < buf.len() {
                state.pending.extend_from_slice(&buf[scan.forward..]);
            }
            buf.clear();
        }
        if buf.capacity() < 8 * 1024 {
            buf.reserve(16 * 1024);
        }
        match from.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return read_fail,
            Ok(_) => {}
        }
    }
}

/// Relays between client and backend until one side ends. Takes the halves of each socket,
/// so plain TCP can be split without locks.
pub async fn relay<CR, CW, BR, BW>(
    client: (&mut CR, &mut CW),
    backend: (&mut BR, &mut BW),
    client_leftover: BytesMut,
    up: &mut Direction,
    down: &mut Direction,
    activity: &Activity,
) -> End
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    BR: AsyncRead + Unpin,
    BW: AsyncWrite + Unpin,
{
    tokio::select! {
        end = pump(client.0, backend.1, up, true, client_leftover, activity) => end,
        end = pump(backend.0, client.1, down, false, BytesMut::new(), activity) => end,
    }
}

/// The backend may serve another client: the client left between messages, every query it
/// sent was answered, and the last answer left no transaction open.
pub fn reusable(end: &End, up: &Direction, down: &Direction) -> bool {
    *end == End::ClientLeft
        && up.quiet()
        && down.quiet()
        && up.tracker.sync_points == down.tracker.sync_points
        && down.tracker.last_ready.is_none_or(|s| s == b'I')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::{put_cstr, put_frame};

    #[test]
    fn tracks_boundaries_across_split_reads() {
        let mut bytes = BytesMut::new();
        put_frame(&mut bytes, b'Q', |b| put_cstr(b, "select 1"));
        put_frame(&mut bytes, b'X', |_| {});
        let mut t = FrameTracker::default();
        let first = t.scan(&bytes[..3], true);
        assert_eq!(first.forward, 0, "a partial header is held back");
        let all = t.scan(&bytes, true);
        assert!(all.terminate);
        assert_eq!(all.forward, bytes.len() - 5);
        assert_eq!(t.sync_points, 1);
        assert!(t.at_boundary());
    }

    #[test]
    fn reads_ready_for_query_status() {
        let mut bytes = BytesMut::new();
        put_frame(&mut bytes, b'C', |b| put_cstr(b, "BEGIN"));
        put_frame(&mut bytes, b'Z', |b| b.extend_from_slice(b"T"));
        let mut t = FrameTracker::default();
        let s = t.scan(&bytes[..bytes.len() - 1], false);
        assert_eq!(s.forward, bytes.len() - 1);
        assert!(!t.at_boundary());
        t.scan(&bytes[bytes.len() - 1..], false);
        assert_eq!(t.last_ready, Some(b'T'));
        assert_eq!(t.sync_points, 1);
        assert!(t.scan(&[b'Q', 0, 0, 0, 1], true).broken);
    }
}
