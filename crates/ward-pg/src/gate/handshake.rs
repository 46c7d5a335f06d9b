//! The client side of a session's start: SSL/GSS negotiation (declined for now), startup
//! parameters, and authentication with an access token — as a cleartext password, or
//! through SASL OAUTHBEARER (RFC 7628) as libpq 18 speaks it.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use ward_config::gate::ClientAuth;
use ward_gate::RefusalReason;
use ward_gate::stream::ClientStream;
use ward_token::remote::Identity;

use super::Gate;
use super::conn::{Conn, MAX_HANDSHAKE_MESSAGE, Stream};
use crate::protocol::backend::{self, PgError};
use crate::protocol::frontend::{self, Startup, StartupParams};
use crate::protocol::tag;

pub enum Hello {
    /// An authenticated client and what it asked for.
    Session {
        params: StartupParams,
        identity: Arc<Identity>,
    },
    Cancel {
        pid: i32,
        secret: Vec<u8>,
    },
}

/// Why a client is turned away: what to tell it, and the reason for metrics and audit.
pub struct Refusal {
    pub error: PgError,
    pub reason: RefusalReason,
}

impl Refusal {
    pub fn new(reason: RefusalReason, error: PgError) -> Self {
        Self { error, reason }
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        let reason =
            if e.kind() == std::io::ErrorKind::InvalidData { RefusalReason::Protocol } else { RefusalReason::Io };
        Self::new(reason, PgError::fatal("08P01", format!("invalid startup: {e}")))
    }
}

pub async fn handshake(gate: &Gate, conn: &mut Conn<ClientStream>, peer: SocketAddr) -> Result<Hello, Refusal> {
    let (minor, params) = loop {
        let (code, body) = conn.read_startup().await?;
        match frontend::parse_startup(code, body) {
            Ok(Startup::SslRequest) => match (&gate.tls, conn.stream.is_tls()) {
                (Some(acceptor), false) => {
                    // Bytes sent before the TLS handshake would be trusted as if encrypted
                    // (CVE-2021-23214): refuse them.
                    if !conn.buf.is_empty() {
                        return Err(Refusal::new(
                            RefusalReason::Protocol,
                            PgError::fatal("08P01", "unencrypted data after SSL request"),
                        ));
                    }
                    conn.send(b"S").await?;
                    conn.stream.upgrade(acceptor).await.map_err(|e| {
                        Refusal::new(RefusalReason::Tls, PgError::fatal("08P01", format!("TLS handshake failed: {e}")))
                    })?;
                }
                (_, true) => {
                    return Err(Refusal::new(
                        RefusalReason::Protocol,
                        PgError::fatal("08P01", "SSL request on an encrypted connection"),
                    ));
                }
                (None, false) => conn.send(b"N").await?,
            },
            Ok(Startup::GssEncRequest) => conn.send(b"N").await?,
            Ok(Startup::Cancel { pid, secret }) => return Ok(Hello::Cancel { pid, secret }),
            Ok(Startup::Startup { minor, params }) => break (minor, params),
            Err(e) => return Err(Refusal::new(RefusalReason::Protocol, PgError::fatal("08P01", e.to_string()))),
        }
    };
    if minor > 0 {
        // We speak 3.0; tell a newer client so, and which protocol options we ignore.
        let options: Vec<&str> = params.0.iter().map(|(n, _)| n.as_str()).filter(|n| n.starts_with("_pq_.")).collect();
        let mut out = BytesMut::new();
        backend::encode_negotiate_protocol(&mut out, &options);
        conn.send(&out).await?;
    }
    if params.get("replication").is_some_and(|r| r != "false" && r != "0" && r != "off" && r != "no") {
        return Err(Refusal::new(
            RefusalReason::Replication,
            PgError::fatal("08P01", "replication connections are not supported through the gate"),
        ));
    }
    let Some(user) = params.get("user").filter(|u| !u.is_empty()).map(str::to_owned) else {
        return Err(Refusal::new(
            RefusalReason::Protocol,
            PgError::fatal("28000", "no PostgreSQL user name specified in startup packet"),
        ));
    };

    let token = match gate.config.auth {
        ClientAuth::Password => password_token(gate, conn, peer).await?,
        ClientAuth::Oauthbearer => bearer_token(gate, conn).await?,
    };
    let identity = gate
        .verifier
        .verify(&token)
        .await
        .map_err(|e| Refusal::new((&e).into(), PgError::fatal("28P01", format!("access token refused: {e}"))))?;
    if gate.config.match_user && identity.identity != user {
        return Err(Refusal::new(
            RefusalReason::UserMismatch,
            PgError::fatal("28000", format!("user \"{user}\" does not match the access token's identity")),
        ));
    }
    Ok(Hello::Session { params, identity })
}

async fn password_token(gate: &Gate, conn: &mut Conn<ClientStream>, peer: SocketAddr) -> Result<String, Refusal> {
    if !conn.stream.is_tls() && !peer.ip().is_loopback() && !gate.config.allow_insecure_password {
        return Err(Refusal::new(
            RefusalReason::InsecurePassword,
            PgError::fatal("28000", "a token sent as a password needs a TLS connection")
                .with_detail("connect with sslmode=require (the gate needs a tls certificate), or over loopback"),
        ));
    }
    let mut out = BytesMut::new();
    backend::encode_auth_cleartext(&mut out);
    conn.send(&out).await?;
    let frame = conn.read_frame(MAX_HANDSHAKE_MESSAGE).await?;
    if frame.tag != tag::frontend::PASSWORD {
        return Err(Refusal::new(RefusalReason::Protocol, PgError::fatal("08P01", "expected a password message")));
    }
    let token = frontend::parse_password(frame.body)
        .ok_or_else(|| Refusal::new(RefusalReason::Protocol, PgError::fatal("08P01", "malformed password message")))?;
    if token.is_empty() {
        return Err(Refusal::new(
            RefusalReason::Malformed,
            PgError::fatal("28P01", "empty password: send an access token"),
        ));
    }
    Ok(token)
}

/// RFC 7628 as libpq 18 drives it: an initial response without a token asks for discovery
/// information; we answer with the error JSON (issuer metadata and scope), the client
/// acknowledges with `\x01`, the exchange fails, and the client reconnects with the token.
async fn bearer_token<S: Stream>(gate: &Gate, conn: &mut Conn<S>) -> Result<String, Refusal> {
    let mut out = BytesMut::new();
    backend::encode_auth_sasl(&mut out, &["OAUTHBEARER"]);
    conn.send(&out).await?;
    let frame = conn.read_frame(MAX_HANDSHAKE_MESSAGE).await?;
    let malformed = || Refusal::new(RefusalReason::Protocol, PgError::fatal("08P01", "malformed OAUTHBEARER message"));
    if frame.tag != tag::frontend::PASSWORD {
        return Err(malformed());
    }
    let (mechanism, data) = frontend::parse_sasl_initial(frame.body).ok_or_else(malformed)?;
    if mechanism != "OAUTHBEARER" {
        return Err(Refusal::new(
            RefusalReason::Protocol,
            PgError::fatal("28000", format!("SASL mechanism {mechanism} is not offered")),
        ));
    }
    match parse_oauthbearer(&data.unwrap_or_default()) {
        Some(token) if !token.is_empty() => Ok(token),
        Some(_) => {
            let discovery = serde_json::json!({
                "status": "invalid_token",
                "openid-configuration": format!("{}/.well-known/openid-configuration", gate.oauth_issuer),
                "scope": gate.oauth_scope,
            });
            let mut out = BytesMut::new();
            backend::encode_sasl_continue(&mut out, discovery.to_string().as_bytes());
            conn.send(&out).await?;
            let ack = conn.read_frame(MAX_HANDSHAKE_MESSAGE).await?;
            if ack.tag != tag::frontend::PASSWORD || ack.body.as_ref() != [0x01] {
                return Err(malformed());
            }
            Err(Refusal::new(RefusalReason::Discovery, PgError::fatal("28000", "OAuth bearer authentication required")))
        }
        None => Err(malformed()),
    }
}

/// The token from a GS2 client first message `n,,\x01auth=Bearer <token>\x01\x01`.
/// `Some("")` when the message carries no token (a discovery request).
fn parse_oauthbearer(message: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(message).ok()?;
    let (gs2, rest) = text.split_once('\x01')?;
    // Channel binding is not supported: the GS2 header must be "n,," or "y,,", with an
    // optional authzid we ignore in favour of the token's own identity.
    if !(gs2.starts_with("n,") || gs2.starts_with("y,")) {
        return None;
    }
    let kvpairs = rest.strip_suffix("\x01\x01").or_else(|| rest.strip_suffix('\x01')).unwrap_or(rest);
    for kv in kvpairs.split('\x01') {
        if let Some(value) = kv.strip_prefix("auth=") {
            // libpq asks for discovery with an empty `auth=`.
            if value.is_empty() {
                return Some(String::new());
            }
            let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            return Some(token.trim().to_owned());
        }
    }
    Some(String::new())
}

#[cfg(test)]
mod tests {
    use super::parse_oauthbearer;

    #[test]
    fn oauthbearer_messages() {
        assert_eq!(parse_oauthbearer(b"n,,\x01auth=Bearer abc.def\x01\x01").as_deref(), Some("abc.def"));
        assert_eq!(parse_oauthbearer(b"n,,\x01auth=\x01\x01").as_deref(), Some(""), "libpq's discovery request");
        assert_eq!(parse_oauthbearer(b"n,,\x01\x01").as_deref(), Some(""), "discovery request");
        assert_eq!(parse_oauthbearer(b"p=tls-unique,,\x01auth=Bearer x\x01\x01"), None, "channel binding refused");
        assert_eq!(parse_oauthbearer(b"n,,\x01auth=Basic x\x01\x01"), None);
        assert_eq!(parse_oauthbearer(b"garbage"), None);
    }
}
