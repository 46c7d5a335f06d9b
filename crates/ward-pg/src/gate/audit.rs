//! Per-statement audit lines: which statement, how long, how many rows, how it ended.
//! Follows the client's messages (simple queries, and Execute of a bound statement) and the
//! server's completions in order. Never parameter values: only the SQL text, truncated.
//! Written as `ward_gate::audit` `statement` events, in the schema every gate shares.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;
use ward_gate::audit::{AuditEvent, EventKind, Who};

use crate::protocol::codec::get_cstr;
use crate::protocol::tag::{backend as server, frontend as client};

/// Longest statement text written to an audit line.
pub const MAX_TEXT: usize = 1024;

struct Pending {
    text: String,
    started: Instant,
    /// A simple query ends at ReadyForQuery and may hold several statements.
    simple: bool,
    rows: u64,
    failed: Option<String>,
}

/// A statement that has ended.
#[derive(Debug, PartialEq, Eq)]
pub struct FinishedStatement {
    pub text: String,
    pub duration_us: u64,
    pub rows: u64,
    /// `ok` or `error`.
    pub outcome: &'static str,
    pub sqlstate: Option<String>,
}

/// Where one session's statement lines go, and whose they are.
pub struct StatementTrail<'a> {
    pub gate: SocketAddr,
    pub client_addr: SocketAddr,
    pub who: Who<'a>,
}

impl StatementTrail<'_> {
    pub fn emit(&self, statement: &FinishedStatement) {
        AuditEvent {
            kind: EventKind::Statement {
                statement: &statement.text,
                duration_us: statement.duration_us,
                rows: statement.rows,
                outcome: statement.outcome,
                sqlstate: statement.sqlstate.as_deref(),
            },
            protocol: crate::gate::PROTOCOL,
            gate: self.gate,
            client_addr: self.client_addr,
            who: Some(self.who.clone()),
        }
        .emit();
    }
}

/// The statement log of one session.
#[derive(Default)]
pub struct StatementAudit {
    statements: HashMap<String, String>,
    portals: HashMap<String, String>,
    pending: VecDeque<Pending>,
}

fn truncate(sql: &[u8]) -> String {
    let end = sql.iter().position(|b| *b == 0).unwrap_or(sql.len());
    let text = String::from_utf8_lossy(&sql[..end.min(MAX_TEXT)]);
    text.into_owned()
}

impl StatementAudit {
    /// Notes a client message (tag and body as the client sent them).
    /// Only the start of a message matters (names, and text up to [`MAX_TEXT`]), so a large
    /// one may be passed in part.
    pub fn client(&mut self, tag: u8, body: &[u8]) {
        let mut b = BytesMut::from(&body[..body.len().min(4 * MAX_TEXT)]);
        match tag {
            client::QUERY => self.pending.push_back(Pending {
                text: truncate(body),
                started: Instant::now(),
                simple: true,
                rows: 0,
                failed: None,
            }),
            client::PARSE => {
                if let Some(name) = get_cstr(&mut b) {
                    self.statements.insert(name, truncate(&b));
                }
            }
            client::BIND => {
                if let (Some(portal), Some(statement)) = (get_cstr(&mut b), get_cstr(&mut b)) {
                    let text = self.statements.get(&statement).cloned().unwrap_or_default();
                    self.portals.insert(portal, text);
                }
            }
            client::EXECUTE => {
                if let Some(portal) = get_cstr(&mut b) {
                    let text = self.portals.get(&portal).cloned().unwrap_or_default();
                    self.pending.push_back(Pending {
                        text,
                        started: Instant::now(),
                        simple: false,
                        rows: 0,
                        failed: None,
                    });
                }
            }
            _ => {}
        }
    }

    /// Notes a server message the client receives; returns the statement it ends, if any.
    pub fn server(&mut self, tag: u8, body: &[u8]) -> Option<FinishedStatement> {
        let head = self.pending.front_mut()?;
        match tag {
            server::COMMAND_COMPLETE => {
                let text = String::from_utf8_lossy(body);
                let rows =
                    text.trim_end_matches('\0').rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                head.rows += rows;
                if !head.simple {
                    return self.finish("ok");
                }
            }
            server::EMPTY_QUERY_RESPONSE | server::PORTAL_SUSPENDED if !head.simple => return self.finish("ok"),
            server::ERROR_RESPONSE => {
                let (code, _) = crate::protocol::backend::parse_error(BytesMut::from(body));
                head.failed = Some(code);
                if !head.simple {
                    return self.finish("error");
                }
            }
            server::READY_FOR_QUERY if head.simple => {
                let outcome = if head.failed.is_some() { "error" } else { "ok" };
                return self.finish(outcome);
            }
            _ => {}
        }
        None
    }

    fn finish(&mut self, outcome: &'static str) -> Option<FinishedStatement> {
        let p = self.pending.pop_front()?;
        Some(FinishedStatement {
            text: p.text,
            duration_us: p.started.elapsed().as_micros() as u64,
            rows: p.rows,
            outcome,
            sqlstate: p.failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::put_cstr;

    fn body(parts: &[&str]) -> BytesMut {
        let mut b = BytesMut::new();
        for p in parts {
            put_cstr(&mut b, p);
        }
        b
    }

    #[test]
    fn simple_and_extended_statements() {
        let mut audit = StatementAudit::default();
        audit.client(b'Q', &body(&["select 1; select 2"]));
        assert!(audit.server(b'C', &body(&["SELECT 1"])).is_none());
        assert!(audit.server(b'C', &body(&["SELECT 1"])).is_none());
        let done = audit.server(b'Z', &BytesMut::from(&b"I"[..])).expect("the query ended");
        assert_eq!((done.rows, done.text.as_str(), done.outcome), (2, "select 1; select 2", "ok"));

        audit.client(b'P', &body(&["s1", "insert into t values ($1)"]));
        audit.client(b'B', &body(&["", "s1"]));
        audit.client(b'E', &body(&[""]));
        let done = audit.server(b'C', &body(&["INSERT 0 3"])).expect("the statement ended");
        assert_eq!((done.rows, done.text.as_str()), (3, "insert into t values ($1)"));
        audit.client(b'B', &body(&["", "s1"]));
        audit.client(b'E', &body(&[""]));
        let mut error = BytesMut::from(&b"C"[..]);
        put_cstr(&mut error, "23505");
        error.extend_from_slice(b"\0");
        let failed = audit.server(b'E', &error).expect("the statement failed");
        assert_eq!((failed.outcome, failed.sqlstate.as_deref()), ("error", Some("23505")));
        assert_eq!(truncate(&vec![b'x'; 5000]).len(), MAX_TEXT);
    }
}
