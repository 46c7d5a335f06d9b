//! One client, from accept to close: handshake, role mapping, the message loop, and the
//! connect, disconnect and refusal audit events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::net::TcpStream;
use ward_config::gate::PoolMode;
use ward_gate::RefusalReason;
use ward_gate::audit::{AuditEvent, EventKind, Who};
use ward_gate::stream::ClientStream;
use ward_gate::watch::time_left;
use ward_token::remote::Identity;

use super::Gate;
use super::audit::StatementTrail;
use super::conn::{Conn, Stream};
use super::context::SessionIdentity;
use super::framed::{FramedLoop, LoopSettings, Sharing};
use super::handshake::{self, Hello, Refusal};
use super::pool::Pool;
use crate::protocol::backend::{self as msg, PgError};
use crate::protocol::frontend::StartupParams;
use crate::protocol::tag::status;

pub async fn run(gate: &Gate, stream: TcpStream, peer: SocketAddr) {
    let started = Instant::now();
    let mut client = Conn::new(ClientStream::Plain(stream));
    let hello = tokio::time::timeout(gate.config.auth_timeout, handshake::handshake(gate, &mut client, peer)).await;
    let hello = match hello {
        Ok(Ok(hello)) => hello,
        Ok(Err(refusal)) => return refuse(gate, &mut client, peer, refusal).await,
        Err(_) => {
            let error = PgError::fatal("08006", "authentication timed out");
            return refuse(gate, &mut client, peer, Refusal::new(RefusalReason::Timeout, error)).await;
        }
    };
    let (params, identity) = match hello {
        Hello::Cancel { pid, secret } => {
            gate.cancel.cancel(&gate.upstream, pid, &secret).await;
            return;
        }
        Hello::Session { params, identity } => (params, identity),
    };
    let account = ward_gate::mapping::account_for(&gate.config.roles, &identity.roles);
    let Some((account, pool)) = account.and_then(|a| Some((a.as_str(), gate.pools.get(a)?))) else {
        let roles = if identity.roles.is_empty() { "none".to_owned() } else { identity.roles.join(", ") };
        let error = PgError::fatal("28000", format!("no role mapping for the token's roles ({roles})"));
        return refuse(gate, &mut client, peer, Refusal::new(RefusalReason::NoMapping, error)).await;
    };
    let session = Session { gate, peer, started, params: &params, identity: &identity, account, pool };
    session.serve(client).await;
}

/// A client past authentication and mapping.
struct Session<'a> {
    gate: &'a Gate,
    peer: SocketAddr,
    started: Instant,
    params: &'a StartupParams,
    identity: &'a Arc<Identity>,
    account: &'a str,
    pool: &'a Pool,
}

impl Session<'_> {
    async fn serve(&self, mut client: Conn<ClientStream>) {
        let config = &self.gate.config;
        let who = SessionIdentity::new(&config.context, self.identity, self.params, self.gate.signer.as_ref());
        let (sharing, same_identity_reset) = match config.pool_mode {
            PoolMode::Session => (Sharing::Session, config.reset_query.clone()),
            PoolMode::Transaction => (Sharing::Transaction, config.transaction_reset_query.clone()),
        };
        let settings = LoopSettings {
            sharing,
            max_message: config.max_message_size,
            same_identity_reset,
            reset_timeout: config.reset_timeout,
            client_idle_timeout: config.client_idle_timeout,
            expires_in: config.close_on_expiry.then(|| time_left(self.identity.expires_at, self.gate.clock.as_ref())),
        };
        let cancel = self.gate.cancel.register(self.gate.entropy.as_ref(), None);
        let trail = config.audit_statements.then(|| StatementTrail {
            gate: config.listen,
            client_addr: self.peer,
            who: self.who(),
        });
        let mut framed = FramedLoop::new(&settings, self.pool, &who, &cancel, trail);
        let parameters = match framed.prepare().await {
            Ok(parameters) => parameters,
            Err(e) => {
                let refusal = Refusal::new(e.reason(), e.client_error());
                return refuse(self.gate, &mut client, self.peer, refusal).await;
            }
        };
        // Every backend this client gets carries its settings, so report those.
        if client.send(&greeting(&parameters, &who.settings, cancel.pid, &cancel.secret)).await.is_err() {
            return;
        }
        metrics::gauge!("ward_pg_sessions_active").increment(1.0);
        metrics::counter!("ward_pg_sessions_total", "account" => self.account.to_owned()).increment(1);
        self.audit(EventKind::Connect { pool_mode: Some(self.pool_mode()) });

        let end = framed.run(&mut client).await;
        if let Some(error) = end.error() {
            let _ = send_error(&mut client, &error).await;
            if error.code == TOO_LARGE {
                // The client is likely still writing the rest: read it away for a moment, so
                // that it gets to read the error instead of a reset connection.
                drain(&mut client.stream, std::time::Duration::from_secs(2)).await;
            }
        }
        let (bytes_in, bytes_out) = (framed.bytes_in, framed.bytes_out);
        drop(framed);
        drop(cancel);
        metrics::gauge!("ward_pg_sessions_active").decrement(1.0);
        self.audit(EventKind::Disconnect {
            duration_ms: self.started.elapsed().as_millis() as u64,
            bytes_in: Some(bytes_in),
            bytes_out: Some(bytes_out),
            outcome: end.as_str(),
            pool_mode: Some(self.pool_mode()),
        });
    }

    fn pool_mode(&self) -> &'static str {
        match self.gate.config.pool_mode {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }

    fn who(&self) -> Who<'_> {
        Who {
            database: Some(&self.gate.config.upstream.database),
            application_name: self.params.get("application_name"),
            ..Who::new(self.identity, self.account)
        }
    }

    fn audit(&self, kind: EventKind<'_>) {
        AuditEvent {
            kind,
            protocol: super::PROTOCOL,
            gate: self.gate.config.listen,
            client_addr: self.peer,
            who: Some(self.who()),
        }
        .emit();
    }
}

/// SQLSTATE program_limit_exceeded: a message over `max_message_size`.
const TOO_LARGE: &str = "54000";

/// Reads and discards what the client sends, until it stops or `limit` passes.
async fn drain(stream: &mut ClientStream, limit: std::time::Duration) {
    use tokio::io::AsyncReadExt as _;
    let mut scratch = vec![0u8; 64 * 1024];
    let _ =
        tokio::time::timeout(limit, async { while matches!(stream.read(&mut scratch).await, Ok(n) if n > 0) {} }).await;
}

async fn send_error<S: Stream>(client: &mut Conn<S>, error: &PgError) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    msg::encode_error(&mut out, error);
    client.send(&out).await
}

/// Too many clients: answered like PostgreSQL does, without reading the startup packet.
pub async fn refuse_busy(gate: &Gate, stream: TcpStream, peer: SocketAddr) {
    tracing::warn!(client = %peer, "gate at max_client_connections; refusing");
    let error = PgError::fatal("53300", "sorry, too many clients already");
    refuse(gate, &mut Conn::new(stream), peer, Refusal::new(RefusalReason::TooManyClients, error)).await;
}

/// AuthenticationOk, the server's parameters (as `overrides` set them), the gate's own
/// cancel key, ReadyForQuery.
fn greeting(parameters: &[(String, String)], overrides: &[(String, String)], pid: i32, secret: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    msg::encode_auth_ok(&mut out);
    for (name, value) in parameters {
        let value = overrides.iter().find(|(n, _)| n == name).map_or(value, |(_, v)| v);
        msg::encode_parameter_status(&mut out, name, value);
    }
    msg::encode_backend_key(&mut out, pid, secret);
    msg::encode_ready(&mut out, status::IDLE);
    out
}

/// Tells the client why it is refused; counts and audits the reason.
async fn refuse<S: Stream>(gate: &Gate, client: &mut Conn<S>, peer: SocketAddr, refusal: Refusal) {
    metrics::counter!("ward_pg_auth_failures_total", "reason" => refusal.reason.as_str()).increment(1);
    AuditEvent {
        kind: EventKind::refused(refusal.reason),
        protocol: super::PROTOCOL,
        gate: gate.config.listen,
        client_addr: peer,
        who: None,
    }
    .emit();
    let _ = send_error(client, &refusal.error).await;
}
