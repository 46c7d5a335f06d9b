//! TLS toward clients: the gate's certificate, and a client stream that may be upgraded
//! after SSLRequest.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use ward_config::gate::ServerTlsConfig;

/// Builds the acceptor from PEM files, with aws-lc-rs and rustls' safe defaults (TLS 1.2+).
pub fn acceptor(config: &ServerTlsConfig) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| format!("certificate {}: {e}", config.cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!("certificate {}: no certificate in the file", config.cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| format!("key {}: {e}", config.key_file.display()))?;
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key do not fit together: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// A client connection, in the clear or under TLS.
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the TLS handshake owns the socket.
    Upgrading,
}

impl ClientStream {
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

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

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the connection was lost during the TLS handshake")
}

impl AsyncRead for ClientStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Upgrading => Poll::Ready(Err(gone())),
        }
    }
}
