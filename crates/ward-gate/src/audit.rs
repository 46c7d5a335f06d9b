//! The audit trail: one JSON line per event on the `ward::audit` tracing target, in one
//! schema for every gate, so a person's connections read as one trail whichever protocol
//! they used. Never a token or a parameter value: the types have nowhere to put one.
//!
//! Every line: `event`, `protocol`, `gate` (its listen address), `client_addr`; then who,
//! once the token is verified (`identity`, `sub`, `client_id`, `jti`, `account`, and where the
//! protocol has them `database`, `application_name`); then the event's own fields.

use std::net::SocketAddr;

use serde::Serialize;
use ward_token::remote::Identity;

use crate::refusal::RefusalReason;

/// One audit line.
#[derive(Debug, Serialize)]
pub struct AuditEvent<'a> {
    #[serde(flatten)]
    pub kind: EventKind<'a>,
    /// `postgres`, `redis`, `http`.
    pub protocol: &'static str,
    pub gate: SocketAddr,
    pub client_addr: SocketAddr,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub who: Option<Who<'a>>,
}

/// The caller behind a session, as its verified token says.
#[derive(Debug, Clone, Serialize)]
pub struct Who<'a> {
    pub identity: &'a str,
    pub sub: &'a str,
    pub client_id: Option<&'a str>,
    pub jti: Option<&'a str>,
    /// The backend account the role rules chose.
    pub account: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application_name: Option<&'a str>,
}

impl<'a> Who<'a> {
    pub fn new(identity: &'a Identity, account: &'a str) -> Self {
        Self {
            identity: &identity.identity,
            sub: &identity.subject,
            client_id: identity.client_id.as_deref(),
            jti: identity.jti.as_deref(),
            account,
            database: None,
            application_name: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind<'a> {
    /// A session began (authenticated and mapped).
    Connect {
        #[serde(skip_serializing_if = "Option::is_none")]
        pool_mode: Option<&'a str>,
    },
    /// A session ended.
    Disconnect {
        duration_ms: u64,
        /// Bytes from the client, where the gate counts them.
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes_in: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        bytes_out: Option<u64>,
        outcome: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pool_mode: Option<&'a str>,
    },
    /// A client turned away before its session began.
    Refused { reason: &'static str },
    /// One statement or command and how it ended.
    Statement {
        statement: &'a str,
        duration_us: u64,
        rows: u64,
        /// `ok` or `error`.
        outcome: &'a str,
        /// The error's code (SQLSTATE), if it failed.
        sqlstate: Option<&'a str>,
    },
}

impl EventKind<'_> {
    pub fn refused(reason: RefusalReason) -> Self {
        Self::Refused { reason: reason.as_str() }
    }
}

impl AuditEvent<'_> {
    /// Writes the line, unless the log filter drops audit lines (then nothing is serialized).
    pub fn emit(&self) {
        if !tracing::enabled!(target: "ward::audit", tracing::Level::INFO) {
            return;
        }
        match serde_json::to_string(self) {
            Ok(line) => tracing::info!(target: "ward::audit", "{line}"),
            Err(e) => tracing::error!(error = %e, "an audit event could not be written"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn line(event: &AuditEvent<'_>) -> Value {
        serde_json::to_value(event).unwrap_or_default()
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    #[test]
    fn every_event_shares_one_schema() {
        let who = Who {
            identity: "alice@example.com",
            sub: "alice",
            client_id: Some("app"),
            jti: Some("j1"),
            account: "svc_reader",
            database: Some("app"),
            application_name: None,
        };
        let connect = AuditEvent {
            kind: EventKind::Connect { pool_mode: Some("transaction") },
            protocol: "postgres",
            gate: addr("127.0.0.1:6432"),
            client_addr: addr("10.0.0.7:50000"),
            who: Some(who.clone()),
        };
        assert_eq!(
            line(&connect),
            json!({
                "event": "connect", "protocol": "postgres", "gate": "127.0.0.1:6432",
                "client_addr": "10.0.0.7:50000", "identity": "alice@example.com", "sub": "alice",
                "client_id": "app", "jti": "j1", "account": "svc_reader", "database": "app",
                "pool_mode": "transaction",
            })
        );
        let statement = AuditEvent {
            kind: EventKind::Statement {
                statement: "select 1",
                duration_us: 12,
                rows: 1,
                outcome: "ok",
                sqlstate: None,
            },
            who: Some(who),
            ..connect
        };
        let statement = line(&statement);
        assert_eq!((statement["event"].as_str(), statement["sub"].as_str()), (Some("statement"), Some("alice")));
        assert_eq!(statement["sqlstate"], Value::Null);
    }

    #[test]
    fn a_refusal_names_no_one() {
        let refused = AuditEvent {
            kind: EventKind::refused(RefusalReason::Expired),
            protocol: "postgres",
            gate: addr("127.0.0.1:6432"),
            client_addr: addr("10.0.0.7:50000"),
            who: None,
        };
        assert_eq!(
            line(&refused),
            json!({"event": "refused", "reason": "expired", "protocol": "postgres",
                   "gate": "127.0.0.1:6432", "client_addr": "10.0.0.7:50000"})
        );
    }
}
