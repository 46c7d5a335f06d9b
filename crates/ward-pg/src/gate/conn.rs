//! Reading whole frames from a socket, with the codec's limits.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::protocol::codec::{self, Frame};

/// Largest message accepted during the handshake (authentication, startup).
pub const MAX_HANDSHAKE_MESSAGE: usize = 64 * 1024;

pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A socket plus what has been read from it but not yet consumed.
pub struct Conn<S> {
    pub stream: S,
    pub buf: BytesMut,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
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

    /// Waits until a whole message is buffered and returns its length, header included,
    /// leaving it in `buf`: for relaying messages without taking them apart. Cancel-safe.
    pub async fn buffered_frame(&mut self, limit: usize) -> io::Result<usize> {
        loop {
            if let Some(len) = codec::frame_len(&mut self.buf, limit).map_err(invalid)? {
                return Ok(len);
            }
            self.fill().await?;
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }
}
