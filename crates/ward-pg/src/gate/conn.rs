//! Reading whole frames from a socket, with the codec's limits.

use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::codec::{self, Frame};

/// Largest message accepted during the handshake (authentication, startup).
pub const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// What [`Conn::next_message`] found at the start of the buffer: a message's length, header
/// included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incoming {
    /// All of it is buffered.
    Whole(usize),
    /// Too long to hold: only its header is sure to be buffered.
    Large(usize),
}

/// Which side of a [`Conn::forward`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    Reading,
    Writing,
}

/// A socket plus what has been read from it but not yet consumed.
pub struct Conn<S> {
    pub stream: S,
    pub buf: BytesMut,
}

fn invalid(e: codec::FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// The framing error behind a read failure, if it was one (as opposed to the peer leaving).
pub fn frame_error(e: &io::Error) -> Option<&codec::FrameError> {
    e.get_ref().and_then(|inner| inner.downcast_ref())
}

impl<S: Stream> Conn<S> {
    pub fn new(stream: S) -> Self {
        Self { stream, buf: BytesMut::with_capacity(8 * 1024) }
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.stream.read_buf(&mut self.buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    pub async fn read_startup(&mut self) -> io::Result<(i32, BytesMut)> {
        loop {
            if let Some(packet) = codec::take_startup(&mut self.buf).map_err(invalid)? {
                return Ok(packet);
            }
            self.fill().await?;
        }
    }

    pub async fn read_frame(&mut self, limit: usize) -> io::Result<Frame> {
        loop {
            if let Some(frame) = codec::take_frame(&mut self.buf, limit).map_err(invalid)? {
                return Ok(frame);
            }
            self.fill().await?;
        }
    }

    /// Waits for the next message: whole if it is at most `stream_above` bytes long (header
    /// included), else as soon as its header is in, so that it can be relayed as it arrives
    /// rather than held. Longer than `limit` (body and length word) is an error. Cancel-safe.
    pub async fn next_message(&mut self, limit: usize, stream_above: usize) -> io::Result<Incoming> {
        loop {
            if self.buf.len() >= 5 {
                let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
                if len < 4 {
                    return Err(invalid(codec::FrameError::BadLength(i64::from(len))));
                }
                let len = len as usize;
                if len > limit {
                    return Err(invalid(codec::FrameError::TooLarge { len, limit }));
                }
                if len + 1 > stream_above {
                    return Ok(Incoming::Large(len + 1));
                }
                if self.buf.len() > len {
                    return Ok(Incoming::Whole(len + 1));
                }
                self.buf.reserve(len + 1 - self.buf.len());
            }
            self.fill().await?;
        }
    }

    /// Waits until at least `n` bytes are buffered.
    pub async fn buffer_at_least(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(())
    }

    /// Moves the next `len` bytes, buffered or still to come, to `to` as they arrive; the
    /// buffer never holds more than one read's worth.
    pub async fn forward<W: AsyncWrite + Unpin>(&mut self, to: &mut W, mut len: usize) -> Result<(), Failed> {
        loop {
            let n = len.min(self.buf.len());
            if n > 0 {
                to.write_all(&self.buf[..n]).await.map_err(|_| Failed::Writing)?;
                self.buf.advance(n);
                len -= n;
            }
            if len == 0 {
                self.shrink();
                return to.flush().await.map_err(|_| Failed::Writing);
            }
            if self.buf.capacity() - self.buf.len() < 8 * 1024 {
                self.buf.reserve(32 * 1024);
            }
            self.fill().await.map_err(|_| Failed::Reading)?;
        }
    }

    /// Reads the next message's header: its tag and body length. The body stays unread.
    pub async fn read_header(&mut self) -> io::Result<(u8, usize)> {
        while self.buf.len() < 5 {
            self.fill().await?;
        }
        let tag = self.buf[0];
        let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len < 4 {
            return Err(invalid(codec::FrameError::BadLength(i64::from(len))));
        }
        self.buf.advance(5);
        Ok((tag, len as usize - 4))
    }

    /// Reads a body of `len` bytes whose header [`Self::read_header`] took.
    pub async fn read_body(&mut self, len: usize, limit: usize) -> io::Result<BytesMut> {
        if len > limit {
            return Err(invalid(codec::FrameError::TooLarge { len, limit }));
        }
        while self.buf.len() < len {
            self.fill().await?;
        }
        Ok(self.buf.split_to(len))
    }

    /// Reads past `len` bytes without keeping them.
    pub async fn skip(&mut self, mut len: usize) -> io::Result<()> {
        loop {
            let n = len.min(self.buf.len());
            self.buf.advance(n);
            len -= n;
            if len == 0 {
                return Ok(());
            }
            self.fill().await?;
        }
    }

    /// Lets a buffer that grew for one large message go, once it is drained.
    pub fn shrink(&mut self) {
        const KEEP: usize = 64 * 1024;
        if self.buf.capacity() > KEEP && self.buf.len() < KEEP / 2 {
            let mut smaller = BytesMut::with_capacity(8 * 1024);
            smaller.extend_from_slice(&self.buf);
            self.buf = smaller;
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }
}
