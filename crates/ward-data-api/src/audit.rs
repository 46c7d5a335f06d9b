//! One audit line per request, in the schema every gate uses (`ward_gate::audit`), so one
//! person's access through psql, redis-cli and HTTP reads as one trail; and the metrics:
//! `ward_http_requests_total{endpoint,outcome}`, `ward_http_request_seconds{endpoint}`,
//! `ward_http_auth_failures_total{reason}`.

use std::net::SocketAddr;
use std::time::Instant;

use ward_gate::RefusalReason;
use ward_gate::audit::{AuditEvent, EventKind, Who};
use ward_token::remote::Identity;

use crate::DataApi;

/// Statement text beyond this is cut in audit lines.
const MAX_STATEMENT: usize = 1024;

/// The request metrics, registered once: labelling per request would allocate every time.
pub struct Meters {
    /// By endpoint (query, command) and outcome (ok, error).
    requests: [[metrics::Counter; 2]; 2],
    seconds: [metrics::Histogram; 2],
}

impl Meters {
    pub fn register() -> Self {
        let endpoints = ["query", "command"];
        let counter = |endpoint: &'static str, outcome: &'static str| metrics::counter!("ward_http_requests_total", "endpoint" => endpoint, "outcome" => outcome);
        Self {
            requests: endpoints.map(|e| [counter(e, "ok"), counter(e, "error")]),
            seconds: endpoints.map(|e| metrics::histogram!("ward_http_request_seconds", "endpoint" => e)),
        }
    }
}

/// A request turned away before it reached a database.
pub fn refused(api: &DataApi, peer: SocketAddr, reason: RefusalReason) {
    metrics::counter!("ward_http_auth_failures_total", "reason" => reason.as_str()).increment(1);
    AuditEvent {
        kind: EventKind::refused(reason),
        protocol: crate::PROTOCOL,
        gate: api.config.listen,
        client_addr: peer,
        who: None,
    }
    .emit();
}

/// What one request did, once it is done.
pub struct Done<'a> {
    pub endpoint: Endpoint,
    pub identity: &'a Identity,
    pub account: &'a str,
    pub database: Option<&'a str>,
    /// SQL text for `/query`; the command's name only for `/command` (its arguments are
    /// values, which audit lines never carry).
    pub statement: &'a str,
    pub started: Instant,
    pub rows: u64,
    /// `Err(sqlstate or error code)`.
    pub outcome: Result<(), Option<&'a str>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Query = 0,
    Command = 1,
}

impl Done<'_> {
    pub fn record(&self, api: &DataApi, peer: SocketAddr) {
        let elapsed = self.started.elapsed();
        let outcome = if self.outcome.is_ok() { "ok" } else { "error" };
        let endpoint = self.endpoint as usize;
        api.meters.requests[endpoint][usize::from(self.outcome.is_err())].increment(1);
        api.meters.seconds[endpoint].record(elapsed.as_secs_f64());
        if !api.config.audit_statements {
            return;
        }
        let mut cut = self.statement.len().min(MAX_STATEMENT);
        while !self.statement.is_char_boundary(cut) {
            cut -= 1;
        }
        AuditEvent {
            kind: EventKind::Statement {
                statement: &self.statement[..cut],
                duration_us: elapsed.as_micros() as u64,
                rows: self.rows,
                outcome,
                sqlstate: self.outcome.err().flatten(),
            },
            protocol: crate::PROTOCOL,
            gate: api.config.listen,
            client_addr: peer,
            who: Some(Who { database: self.database, ..Who::new(self.identity, self.account) }),
        }
        .emit();
    }
}
