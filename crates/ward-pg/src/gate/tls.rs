//! TLS toward clients: the gate's certificate, and a client stream that may be upgraded
//! after SSLRequest.

use std::io;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use ward_config::gate::ServerTlsConfig;

use super::stream::MaybeTls;

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
pub type ClientStream = MaybeTls<TlsStream<TcpStream>>;

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
