//! One client, from accept to close: handshake, mapping, backend, identity, relay, audit.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use serde_json::json;
use tokio::net::TcpStream;
use ward_token::remote::Identity;

use super::Gate;
use super::assign::{self, Resets};
use super::conn::Conn;
use super::context::SessionIdentity;
use super::framed::{FramedSession, Outcome};
use super::handshake::{self, Hello};
use super::mapping;
use super::pool::Pool;
use super::relay::{self, Direction};
use super::tls::ClientStream;
use super::upstream_tls::BackendStream;
use crate::protocol::backend::{self as msg, PgError};
use ward_config::gate::PoolMode;

pub async fn run(gate: &Gate, stream: TcpStream, peer: SocketAddr) {
    let started = Instant::now();
    let mut client = Conn::new(ClientStream::Plain(stream));
    let hello = tokio::time::timeout(gate.config.auth_timeout, handshake::handshake(gate, &mut client, peer)).await;
    let hello = match hello {
        Ok(Ok(hello)) => hello,
        Ok(Err(refusal)) => {
            metrics::counter!("ward_pg_auth_failures_total", "reason" => refusal.reason).increment(1);
            refuse(gate, &mut client, peer, refusal.reason, &refusal.error).await;
            return;
        }
        Err(_) => {
            metrics::counter!("ward_pg_auth_failures_total", "reason" => "timeout").increment(1);
            refuse(gate, &mut client, peer, "timeout", &PgError::fatal("08006", "authentication timed out")).await;
            return;
        }
    };
    let (params, identity) = match hello {
        Hello::Cancel { pid, secret } => {
            gate.cancel.cancel(&gate.upstream, pid, &secret).await;
            return;
        }
        Hello::Session { params, identity } => (params, identity),
    };

    let Some(pool) = mapping::account_for(&gate.config.roles, &identity.roles).and_then(|a| gate.pools.get(a)) else {
        let roles = if identity.roles.is_empty() { "none".to_owned() } else { identity.roles.join(", ") };
        metrics::counter!("ward_pg_auth_failures_total", "reason" => "no_mapping").increment(1);
        let error = PgError::fatal("28000", format!("no role mapping for the token's roles ({roles})"));
        refuse(gate, &mut client, peer, "no_mapping", &error).await;
        return;
    };

    let who = SessionIdentity::new(&gate.config.context, &identity, &params, gate.signer.as_ref());
    // Transaction pooling, and statement audit in either mode, need whole messages.
    if gate.config.pool_mode == PoolMode::Transaction || gate.config.audit_statements {
        let client = Client { conn: client, peer, started, params: &params, identity: &identity };
        return run_framed(gate, client, pool, &who).await;
    }
    let resets = Resets { same_identity: &gate.config.reset_query, deadline: gate.config.reset_timeout };
    let mut lease = match assign::assign(pool, &who, &resets).await {
        Ok(lease) => lease,
        Err(e) => {
            let (error, reason) = e.refusal();
            refuse(gate, &mut client, peer, reason, &error).await;
            return;
        }
    };

    let cancel = gate.cancel.register(gate.entropy.as_ref(), lease.backend.key);
    if client.send(&greeting(&lease.backend.parameters, &[], cancel.pid, &cancel.secret)).await.is_err() {
        drop(cancel);
        pool.release(lease, true).await;
        return;
    }
    metrics::gauge!("ward_pg_sessions_active").increment(1.0);
    metrics::counter!("ward_pg_sessions_total", "account" => pool.account().to_owned()).increment(1);
    audit(gate, "connect", peer, &identity, pool.account(), &params, json!({}));

    let leftover = std::mem::take(&mut client.buf);
    let (mut up, mut down) = (Direction::default(), Direction::default());
    let end = relay_session(
        gate,
        &identity,
        &mut client.stream,
        &mut lease.backend.conn.stream,
        leftover,
        &mut up,
        &mut down,
    )
    .await;
    if end == relay::End::TokenExpired {
        let _ = send_error(&mut client, &PgError::fatal("28000", "the access token of this session has expired")).await;
    }
    if end == relay::End::ClientIdle {
        let _ = send_error(&mut client, &idle_error()).await;
    }
    let clean = relay::reusable(&end, &up, &down);

    drop(cancel);
    metrics::gauge!("ward_pg_sessions_active").decrement(1.0);
    audit(
        gate,
        "disconnect",
        peer,
        &identity,
        pool.account(),
        &params,
        json!({
            "duration_ms": started.elapsed().as_millis() as u64,
            "bytes_in": up.bytes,
            "bytes_out": down.bytes,
            "outcome": format!("{end:?}"),
        }),
    );
    pool.release(lease, clean).await;
}

/// A client past authentication.
struct Client<'a> {
    conn: Conn<ClientStream>,
    peer: SocketAddr,
    started: Instant,
    params: &'a crate::protocol::frontend::StartupParams,
    identity: &'a Identity,
}

/// The rest of a session handled message by message: transaction pooling (a backend per
/// transaction), or session pooling with statement audit (one backend, kept).
async fn run_framed(gate: &Gate, client: Client<'_>, pool: &Pool, who: &SessionIdentity) {
    let Client { conn: mut client, peer, started, params, identity } = client;
    let parameters = match pool.startup_parameters().await {
        Ok(p) => p,
        Err(e) => {
            let (error, reason) = e.refusal();
            refuse(gate, &mut client, peer, reason, &error).await;
            return;
        }
    };
    let cancel = gate.cancel.register(gate.entropy.as_ref(), None);
    // Each backend this client gets will carry its own settings, so report those.
    if client.send(&greeting(&parameters, &who.settings, cancel.pid, &cancel.secret)).await.is_err() {
        return;
    }
    metrics::gauge!("ward_pg_sessions_active").increment(1.0);
    metrics::counter!("ward_pg_sessions_total", "account" => pool.account().to_owned()).increment(1);
    let mode = if gate.config.pool_mode == PoolMode::Transaction { "transaction" } else { "session" };
    audit(gate, "connect", peer, identity, pool.account(), params, json!({ "pool_mode": mode }));

    let audit_as = gate.config.audit_statements.then(|| {
        json!({ "identity": identity.identity, "sub": identity.subject, "account": pool.account(), "client_addr": peer.to_string() })
    });
    let session = FramedSession {
        gate,
        pool,
        who,
        cancel: &cancel,
        sticky: gate.config.pool_mode == PoolMode::Session,
        audit_as,
        expires_in: gate.config.close_on_expiry.then(|| expires_in(identity)),
    };
    let outcome = session.run(&mut client).await;
    let label = outcome.as_str();
    match outcome {
        Outcome::Refused(error) => {
            let _ = send_error(&mut client, &error).await;
            if error.code == TOO_LARGE {
                // The client is likely still writing the rest: read it away for a moment, so
                // that it gets to read the error instead of a reset connection.
                drain(&mut client.stream, std::time::Duration::from_secs(2)).await;
            }
        }
        Outcome::SetupFailed | Outcome::BackendFailed => {
            let error = PgError::fatal("08006", "the database connection failed");
            let _ = send_error(&mut client, &error).await;
        }
        _ => {}
    }
    drop(cancel);
    metrics::gauge!("ward_pg_sessions_active").decrement(1.0);
    audit(
        gate,
        "disconnect",
        peer,
        identity,
        pool.account(),
        params,
        json!({ "duration_ms": started.elapsed().as_millis() as u64, "outcome": label, "pool_mode": mode }),
    );
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

/// Time left until the token expires.
fn expires_in(identity: &Identity) -> std::time::Duration {
    let left = identity.expires_at.saturating_sub(ward_core::Clock::now(&ward_core::SystemClock)).max(0);
    std::time::Duration::from_secs(left as u64)
}

/// Relays until the session ends, or its token expires when `close_on_expiry` asks for that.
async fn relay_session(
    gate: &Gate,
    identity: &Identity,
    client: &mut ClientStream,
    backend: &mut BackendStream,
    leftover: BytesMut,
    up: &mut Direction,
    down: &mut Direction,
) -> relay::End {
    let (mut client_read, mut client_write) = client.halves();
    let (mut backend_read, mut backend_write) = backend.halves();
    let activity = relay::Activity::default();
    let relaying = relay::relay(
        (&mut client_read, &mut client_write),
        (&mut backend_read, &mut backend_write),
        leftover,
        up,
        down,
        &activity,
    );
    let expiry = async {
        if !gate.config.close_on_expiry {
            return std::future::pending().await;
        }
        tokio::time::sleep(expires_in(identity)).await;
    };
    let idle = watch_idle(&activity, gate.config.client_idle_timeout);
    tokio::select! {
        end = relaying => end,
        () = expiry => relay::End::TokenExpired,
        () = idle => relay::End::ClientIdle,
    }
}

/// Completes when the client has been silent, with the server waiting on it, for `limit`;
/// never when `limit` is zero.
async fn watch_idle(activity: &relay::Activity, limit: std::time::Duration) {
    if limit.is_zero() {
        return std::future::pending().await;
    }
    loop {
        let idle = activity.client_idle_for().unwrap_or_default();
        if idle >= limit {
            return;
        }
        tokio::time::sleep((limit - idle).max(std::time::Duration::from_millis(100))).await;
    }
}

/// SQLSTATE 57P05, as PostgreSQL's own idle_session_timeout says it.
pub fn idle_error() -> PgError {
    PgError::fatal("57P05", "terminating connection due to idle-session timeout")
}

async fn send_error<S: super::conn::Stream>(client: &mut Conn<S>, error: &PgError) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    msg::encode_error(&mut out, error);
    client.send(&out).await
}

/// Too many clients: answered like PostgreSQL does, without reading the startup packet.
pub async fn refuse_busy(stream: TcpStream, peer: SocketAddr) {
    metrics::counter!("ward_pg_auth_failures_total", "reason" => "too_many_clients").increment(1);
    tracing::warn!(client = %peer, "gate at max_client_connections; refusing");
    let mut client = Conn::new(stream);
    let _ = send_error(&mut client, &PgError::fatal("53300", "sorry, too many clients already")).await;
}

/// One JSON audit line. Never the token: identity, subject, client and account only.
fn audit(
    gate: &Gate,
    event: &str,
    peer: SocketAddr,
    identity: &Identity,
    account: &str,
    params: &crate::protocol::frontend::StartupParams,
    extra: serde_json::Value,
) {
    let mut line = json!({
        "event": event,
        "gate": gate.config.listen.to_string(),
        "identity": identity.identity,
        "sub": identity.subject,
        "client_id": identity.client_id,
        "jti": identity.jti,
        "account": account,
        "database": gate.config.upstream.database,
        "application_name": params.get("application_name"),
        "client_addr": peer.to_string(),
    });
    if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), extra) {
        line.extend(extra);
    }
    tracing::info!(target: "ward::audit", "{line}");
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
    msg::encode_ready(&mut out, b'I');
    out
}

/// Tells the client why it is refused, and writes the audit line.
async fn refuse(gate: &Gate, client: &mut Conn<ClientStream>, peer: SocketAddr, reason: &str, error: &PgError) {
    let line = json!({
        "event": "refused",
        "gate": gate.config.listen.to_string(),
        "client_addr": peer.to_string(),
        "reason": reason,
    });
    tracing::info!(target: "ward::audit", "{line}");
    let _ = send_error(client, error).await;
}
