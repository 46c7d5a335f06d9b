//! TLS toward PostgreSQL: SSLRequest, then the handshake under the gate's upstream policy
//! (`ward_gate::tls`, libpq's `sslmode` meanings).

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ward_config::gate::{UpstreamConfig, UpstreamTls};
use ward_gate::GateError;
use ward_gate::tls::UpstreamTlsPolicy;

use crate::protocol::frontend;

/// A connection to PostgreSQL, in the clear or under TLS.
pub type BackendStream = ward_gate::stream::UpstreamStream;

/// How to secure connections to one upstream.
#[derive(Clone)]
pub struct UpstreamSecurity(UpstreamTlsPolicy);

impl UpstreamSecurity {
    pub fn new(config: &UpstreamConfig) -> Result<Self, GateError> {
        Ok(Self(UpstreamTlsPolicy::new(config.tls, &config.host, config.ca_file.as_deref())?))
    }

    /// Negotiates TLS on a fresh connection, as the mode requires.
    pub async fn secure(&self, mut tcp: TcpStream) -> io::Result<BackendStream> {
        if !self.0.wants_tls() {
            return Ok(BackendStream::Plain(tcp));
        }
        let mut request = BytesMut::new();
        frontend::encode_ssl_request(&mut request);
        tcp.write_all(&request).await?;
        let mut answer = [0u8; 1];
        tcp.read_exact(&mut answer).await?;
        // SSLRequest is answered with one byte: `S` to go on under TLS, `N` to stay plain.
        match (answer[0], self.0.mode()) {
            (b'S', _) => self.0.handshake(tcp).await,
            (b'N', UpstreamTls::Prefer) => Ok(BackendStream::Plain(tcp)),
            (b'N', _) => Err(io::Error::new(io::ErrorKind::ConnectionRefused, "PostgreSQL does not offer TLS")),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "unexpected answer to SSLRequest")),
        }
    }
}
