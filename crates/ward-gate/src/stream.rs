//! A socket that may have been upgraded to TLS: toward clients (the gate is the TLS server)
//! and toward upstream servers (the gate is the TLS client) — or, toward a server on the same
//! host, a Unix socket.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsAcceptor;

pub enum MaybeTls<T> {
    Plain(TcpStream),
    Tls(Box<T>),
    /// The upstream's own socket: no network stack between gate and server.
    Unix(UnixStream),
    /// Only while a TLS handshake owns the socket.
    Upgrading,
}

pub type Reader<'a> = Box<dyn AsyncRead + Unpin + Send + 'a>;
pub type Writer<'a> = Box<dyn AsyncWrite + Unpin + Send + 'a>;

impl<T: AsyncRead + AsyncWrite + Unpin + Send> MaybeTls<T> {
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// Read and write halves for the relay. Plain TCP splits into borrowed halves at no cost;
    /// TLS needs tokio's locked split.
    pub fn halves(&mut self) -> (Reader<'_>, Writer<'_>) {
        match self {
            Self::Plain(tcp) => {
                let (r, w) = tcp.split();
                (Box::new(r), Box::new(w))
            }
            Self::Unix(unix) => {
                let (r, w) = unix.split();
                (Box::new(r), Box::new(w))
            }
            other => {
                let (r, w) = tokio::io::split(other);
                (Box::new(r), Box::new(w))
            }
        }
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was lost during the TLS handshake")
}

impl<T: AsyncRead + Unpin> AsyncRead for MaybeTls<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for MaybeTls<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }
}

/// A client connection, in the clear or under TLS (the gate is the TLS server).
pub type ClientStream = MaybeTls<tokio_rustls::server::TlsStream<TcpStream>>;

impl ClientStream {
    /// Runs the TLS handshake on a plain stream.
    pub async fn upgrade(&mut self, acceptor: &TlsAcceptor) -> io::Result<()> {
        let Self::Plain(tcp) = std::mem::replace(self, Self::Upgrading) else {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS requested twice"));
        };
        let tls = acceptor.accept(tcp).await?;
        *self = Self::Tls(Box::new(tls));
        Ok(())
    }
}

/// A connection to an upstream server, in the clear or under TLS (the gate is the client).
pub type UpstreamStream = MaybeTls<tokio_rustls::client::TlsStream<TcpStream>>;

impl UpstreamStream {
    /// A cheap health check for an idle connection to a server that sends nothing unasked
    /// (PostgreSQL to an idle session, Redis outside pub/sub): any readable byte — a FATAL
    /// before shutdown, or the end of the stream after a restart — means the connection is
    /// unusable. Never blocks.
    pub fn idle_and_open(&self) -> bool {
        let mut probe = [0u8; 1];
        let read = match self {
            Self::Plain(tcp) => tcp.try_read(&mut probe),
            Self::Tls(tls) => tls.get_ref().0.try_read(&mut probe),
            Self::Unix(unix) => unix.try_read(&mut probe),
            Self::Upgrading => return false,
        };
        matches!(read, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}
