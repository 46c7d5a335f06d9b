//! TLS toward PostgreSQL: SSLRequest, then a rustls handshake, with libpq's `sslmode`
//! semantics (`prefer` and `require` encrypt without checking the certificate; `verify-full`
//! checks the chain against the configured CA and the host name).

use std::io;
use std::sync::Arc;

use bytes::BytesMut;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use ward_config::gate::{UpstreamConfig, UpstreamTls};

use super::stream::MaybeTls;

use crate::protocol::frontend;

/// How to secure connections to one upstream.
#[derive(Clone)]
pub struct UpstreamSecurity {
    mode: UpstreamTls,
    connector: Option<TlsConnector>,
    server_name: ServerName<'static>,
}

impl UpstreamSecurity {
    pub fn new(config: &UpstreamConfig) -> Result<Self, String> {
        let server_name = ServerName::try_from(config.host.clone())
            .map_err(|_| format!("upstream host {:?} is not a valid name", config.host))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let connector = match config.tls {
            UpstreamTls::Disable => None,
            UpstreamTls::Prefer | UpstreamTls::Require => {
                let verifier = Arc::new(EncryptOnly(provider));
                let client = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
                Some(TlsConnector::from(Arc::new(client)))
            }
            UpstreamTls::VerifyFull => {
                let path = config.ca_file.as_ref().ok_or("verify-full needs upstream.ca_file")?;
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                for cert in certs {
                    roots.add(cert).map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                }
                let client = builder.with_root_certificates(roots).with_no_client_auth();
                Some(TlsConnector::from(Arc::new(client)))
            }
        };
        Ok(Self { mode: config.tls, connector, server_name })
    }

    /// Negotiates TLS on a fresh connection, as the mode requires.
    pub async fn secure(&self, mut tcp: TcpStream) -> io::Result<BackendStream> {
        let Some(connector) = &self.connector else { return Ok(BackendStream::Plain(tcp)) };
        let mut request = BytesMut::new();
        frontend::encode_ssl_request(&mut request);
        tcp.write_all(&request).await?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await?;
        match (answer[0], self.mode) {
            (b'S', _) => Ok(BackendStream::Tls(Box::new(connector.connect(self.server_name.clone(), tcp).await?))),
            (b'N', UpstreamTls::Prefer) => Ok(BackendStream::Plain(tcp)),
            (b'N', _) => Err(io::Error::new(io::ErrorKind::ConnectionRefused, "PostgreSQL does not offer TLS")),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected answer to SSLRequest")),
        }
    }
}

/// `sslmode=require`: the handshake's signatures are checked against the presented
/// certificate, but the certificate itself is not.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A connection to PostgreSQL, in the clear or under TLS.
pub type BackendStream = MaybeTls<TlsStream<TcpStream>>;

impl BackendStream {
    /// A cheap health check for an idle connection: PostgreSQL sends nothing to an idle
    /// session, so any readable byte — a FATAL before shutdown, or the end of the stream
    /// after a restart — means the connection is unusable. Never blocks.
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
