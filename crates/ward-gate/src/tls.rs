//! TLS both ways, with aws-lc-rs and rustls' safe defaults (TLS 1.2+): the gate's own
//! certificate toward clients, and the upstream policy with libpq's `sslmode` meanings
//! (`prefer` and `require` encrypt without checking the certificate; `verify-full` checks the
//! chain against the configured CA and the host name). How a protocol asks for TLS (PostgreSQL's
//! SSLRequest, or TLS from the first byte) is the gate's business; the handshake is here.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use ward_config::gate::{ServerTlsConfig, UpstreamTls};

use crate::error::GateError;
use crate::stream::UpstreamStream;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The gate's acceptor, from PEM files.
pub fn acceptor(config: &ServerTlsConfig) -> Result<TlsAcceptor, GateError> {
    let cert_error = |reason: String| GateError::Certificate { path: config.cert_file.clone(), reason };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert_file)
        .and_then(|it| it.collect::<Result<_, _>>())
        .map_err(|e| cert_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_error("no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| GateError::Key { path: config.key_file.clone(), reason: e.to_string() })?;
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| cert_error(format!("certificate and key do not fit together: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// How to secure connections to one upstream server.
#[derive(Clone)]
pub struct UpstreamTlsPolicy {
    mode: UpstreamTls,
    connector: Option<TlsConnector>,
    server_name: ServerName<'static>,
}

impl UpstreamTlsPolicy {
    /// `host` is the name the certificate must carry under `verify-full`.
    pub fn new(mode: UpstreamTls, host: &str, ca_file: Option<&Path>) -> Result<Self, GateError> {
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|_| GateError::UpstreamHost(host.to_owned()))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
        let connector = match mode {
            UpstreamTls::Disable => None,
            UpstreamTls::Prefer | UpstreamTls::Require => {
                let verifier = Arc::new(EncryptOnly(provider()));
                let client = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
                Some(TlsConnector::from(Arc::new(client)))
            }
            UpstreamTls::VerifyFull => {
                let path = ca_file.ok_or(GateError::NoCaFile)?;
                let ca_error = |reason: String| GateError::CaFile { path: path.to_owned(), reason };
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| ca_error(e.to_string()))?;
                for cert in certs {
                    roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
                }
                let client = builder.with_root_certificates(roots).with_no_client_auth();
                Some(TlsConnector::from(Arc::new(client)))
            }
        };
        Ok(Self { mode, connector, server_name })
    }

    pub fn mode(&self) -> UpstreamTls {
        self.mode
    }

    /// Whether connections try TLS at all (every mode but `disable`).
    pub fn wants_tls(&self) -> bool {
        self.connector.is_some()
    }

    /// The TLS handshake on a connected socket; plain when the mode is `disable`.
    pub async fn handshake(&self, tcp: TcpStream) -> io::Result<UpstreamStream> {
        match &self.connector {
            Some(connector) => {
                Ok(UpstreamStream::Tls(Box::new(connector.connect(self.server_name.clone(), tcp).await?)))
            }
            None => Ok(UpstreamStream::Plain(tcp)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_refuse_what_cannot_work() {
        assert!(matches!(
            UpstreamTlsPolicy::new(UpstreamTls::VerifyFull, "db.example", None),
            Err(GateError::NoCaFile)
        ));
        assert!(matches!(
            UpstreamTlsPolicy::new(UpstreamTls::Require, "not a host name", None),
            Err(GateError::UpstreamHost(_))
        ));
        let missing = Path::new("/nonexistent/ca.pem");
        assert!(matches!(
            UpstreamTlsPolicy::new(UpstreamTls::VerifyFull, "db.example", Some(missing)),
            Err(GateError::CaFile { .. })
        ));
        let plain = UpstreamTlsPolicy::new(UpstreamTls::Disable, "127.0.0.1", None).expect("disable needs nothing");
        assert!(!plain.wants_tls());
        assert!(UpstreamTlsPolicy::new(UpstreamTls::Prefer, "db.example", None).expect("prefer").wants_tls());
    }

    #[test]
    fn a_missing_certificate_names_its_file() {
        let config =
            ServerTlsConfig { cert_file: "/nonexistent/cert.pem".into(), key_file: "/nonexistent/key.pem".into() };
        let error = acceptor(&config).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("/nonexistent/cert.pem"), "{error}");
    }
}
