//! The connection commands the gate answers itself: AUTH and HELLO (a token verified, its
//! roles mapped to a service account, an upstream connection taken, the namespace set), PING
//! before authentication, QUIT, and RESET (which, as in Redis, logs the connection out).

use bytes::BytesMut;
use ward_gate::RefusalReason;
use ward_gate::audit::EventKind;
use ward_gate::watch::time_left;

use super::link::Link;
use super::{Caller, End, Owed, Session};
use crate::dispatch::{Own, Permissions, ReplyShape};
use crate::gate::pipeline::PROTOCOL;
use crate::gate::upstream::{Lease, Pool, UpstreamError};
use crate::namespace::Namespace;
use crate::protocol::encode;

impl Session<'_> {
    /// AUTH, HELLO, PING (before authentication), QUIT, RESET.
    pub(super) async fn own(&mut self, own: Own, command: &[u8]) -> Result<(), End> {
        let args: Vec<Vec<u8>> = self.args.iter(command).map(<[u8]>::to_vec).collect();
        match own {
            Own::Auth => {
                let (user, token) = match args.as_slice() {
                    [_, token] => (None, token),
                    [_, user, token] => (Some(user.as_slice()), token),
                    _ => {
                        self.local_error("ERR", "wrong number of arguments for 'auth' command");
                        return Ok(());
                    }
                };
                match self.authenticate(user, token).await {
                    Ok(()) => self.local(b"+OK\r\n".to_vec()),
                    Err((code, message)) => self.local_error(code, &message),
                }
            }
            Own::Hello => self.hello(&args).await?,
            Own::Ping => match args.get(1) {
                Some(message) => {
                    let mut out = BytesMut::new();
                    encode::bulk(&mut out, message);
                    self.local(out.to_vec());
                }
                None => self.local(b"+PONG\r\n".to_vec()),
            },
            Own::Quit => {
                self.local(b"+OK\r\n".to_vec());
                self.quitting = true;
            }
            Own::Reset => {
                // Redis's RESET logs the connection out; so does the gate's, once what is owed
                // before it has been given.
                self.drain_owed().await?;
                self.release_upstream().await;
                self.caller = None;
                self.multi = None;
                self.queued.clear();
                self.subscribed = false;
                self.protocol = 2;
                self.auth_by = tokio::time::Instant::now() + self.gate.config.auth_timeout;
                self.local(b"+RESET\r\n".to_vec());
            }
        }
        Ok(())
    }

    /// `HELLO [protover [AUTH user token] [SETNAME name]]`.
    async fn hello(&mut self, args: &[Vec<u8>]) -> Result<(), End> {
        let arg = |i: usize| args.get(i).cloned();
        let protocol = match arg(1).as_deref() {
            None => self.protocol,
            Some(b"2") => 2,
            Some(b"3") => 3,
            Some(_) => {
                self.local_error("NOPROTO", "unsupported protocol version");
                return Ok(());
            }
        };
        let mut i = 2;
        while i < args.len() {
            let option = arg(i).unwrap_or_default();
            if option.eq_ignore_ascii_case(b"AUTH") && i + 2 < args.len() {
                let (user, token) = (arg(i + 1).unwrap_or_default(), arg(i + 2).unwrap_or_default());
                if let Err((code, message)) = self.authenticate(Some(&user), &token).await {
                    self.local_error(code, &message);
                    return Ok(());
                }
                i += 3;
            } else if option.eq_ignore_ascii_case(b"SETNAME") && i + 1 < args.len() {
                // Client names are connection state of the gate's upstream: not passed on.
                i += 2;
            } else {
                self.local_error("ERR", "syntax error in HELLO option");
                return Ok(());
            }
        }
        if self.caller.is_none() {
            self.local_error(
                "NOAUTH",
                "HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH \
                 <user> <token> option can be used to authenticate the client and select the RESP protocol \
                 version at the same time",
            );
            return Ok(());
        }
        // The shared connections speak RESP2: a RESP3 client gets one of its own.
        if protocol != PROTOCOL && self.link.is_shared() {
            self.own_connection(protocol).await?;
        }
        // Redis answers with its own server description, in the new protocol.
        self.protocol = protocol;
        if let Link::Own { lease, .. } = &mut self.link {
            lease.conn.protocol = protocol;
        }
        let version = protocol.to_string();
        self.to_upstream.extend_from_slice(&crate::gate::upstream::command(&[b"HELLO", version.as_bytes()]));
        self.unsent += 1;
        self.owed.push_back(Owed::Reply(ReplyShape::AsIs, None));
        Ok(())
    }

    /// Verifies `token` and takes an upstream connection for its account. Errors are the RESP
    /// error code and message for the client.
    async fn authenticate(&mut self, user: Option<&[u8]>, token: &[u8]) -> Result<(), (&'static str, String)> {
        let gate = self.gate;
        let secure = self.client.is_tls() || self.peer.ip().is_loopback() || gate.config.allow_insecure_auth;
        if !secure {
            self.refused(RefusalReason::InsecurePassword);
            return Err(("ERR", "a token sent with AUTH needs a TLS connection (or a client on loopback)".into()));
        }
        let token = std::str::from_utf8(token).unwrap_or_default();
        let identity = match gate.verifier.verify(token).await {
            Ok(identity) => identity,
            Err(e) => {
                self.refused((&e).into());
                return Err(("WRONGPASS", format!("access token refused: {e}")));
            }
        };
        if let Some(user) = user
            && user != b"default"
            && user != identity.identity.as_bytes()
        {
            self.refused(RefusalReason::UserMismatch);
            return Err(("WRONGPASS", "the user name does not match the access token's identity".into()));
        }
        let scopes = &gate.config.scopes;
        let permissions = Permissions {
            read: identity.scopes.contains(&scopes.read),
            write: identity.scopes.contains(&scopes.write),
        };
        if !permissions.read && !permissions.write {
            self.refused(RefusalReason::Scope);
            return Err(("NOPERM", format!("the access token carries neither {} nor {}", scopes.read, scopes.write)));
        }
        let Some(account) = ward_gate::mapping::account_for(&gate.config.roles, &identity.roles) else {
            self.refused(RefusalReason::NoMapping);
            return Err(("NOPERM", "no role mapping for the access token's roles".into()));
        };
        if let Some(caller) = &self.caller {
            if caller.identity.subject != identity.subject || caller.account != *account {
                return Err(("ERR", "this connection is authenticated as another identity: open a new one".into()));
            }
            // A fresh token for the same caller: its expiry and scopes now count.
            let namespace = caller.namespace.clone();
            let expires_at = tokio::time::Instant::now() + time_left(identity.expires_at, gate.clock.as_ref());
            self.caller = Some(Caller { expires_at, identity, account: account.clone(), namespace, permissions });
            return Ok(());
        }
        let pool = gate.pools.get(account).ok_or(("NOPERM", "the account is not configured".to_owned()))?;
        let link = match gate.shared.get(account) {
            // Signed in on the shared connections, unless the client already speaks RESP3.
            Some(pipelines) if self.protocol == PROTOCOL => {
                let lane = pipelines.any_lane();
                if let Err(e) = pipelines.ready(lane).await {
                    self.refused(RefusalReason::Backend);
                    tracing::warn!(account = %account, error = %e, "no shared upstream connection for a client");
                    return Err(("ERR", "the cache is not available".to_owned()));
                }
                Link::Shared { pipelines, lane, pending: Default::default(), buf: Default::default() }
            }
            _ => Link::Own { pool, lease: self.acquire(pool, account).await? },
        };
        let namespace = Namespace::for_identity(&gate.key_prefix, &identity);
        let expires_at = tokio::time::Instant::now() + time_left(identity.expires_at, gate.clock.as_ref());
        self.caller = Some(Caller { expires_at, identity, account: account.clone(), namespace, permissions });
        self.link = link;
        metrics::gauge!("ward_redis_sessions_active").increment(1.0);
        metrics::counter!("ward_redis_sessions_total", "account" => account.clone()).increment(1);
        self.audit(EventKind::Connect { pool_mode: None });
        Ok(())
    }

    /// A connection of the client's own, for signing in.
    async fn acquire(&self, pool: &Pool, account: &str) -> Result<Lease, (&'static str, String)> {
        pool.acquire(self.protocol).await.map_err(|e| {
            self.refused(match e {
                UpstreamError::QueueTimeout => RefusalReason::QueueTimeout,
                _ => RefusalReason::Backend,
            });
            tracing::warn!(account = %account, error = %e, "no upstream connection for a client");
            match e {
                UpstreamError::QueueTimeout => {
                    ("ERR", "too many connections for this service account; try again later".into())
                }
                _ => ("ERR", "the cache is not available".to_owned()),
            }
        })
    }
}
