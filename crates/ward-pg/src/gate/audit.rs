//! Per-statement audit lines: which statement, how long, how many rows, how it ended.
//! Follows the client's messages (simple queries, and Execute of a bound statement) and the
//! server's completions in order. Never parameter values: only the SQL text, truncated.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::BytesMut;
use serde_json::json;

use crate::protocol::codec::get_cstr;

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
            b'Q' => self.pending.push_back(Pending {
                text: truncate(body),
                started: Instant::now(),
                simple: true,
                rows: 0,
                failed: None,
            }),
            b'P' => {
                if let Some(name) = get_cstr(&mut b) {
                    self.statements.insert(name, truncate(&b));
                }
            }
            b'B' => {
                if let (Some(portal), Some(statement)) = (get_cstr(&mut b), get_cstr(&mut b)) {
                    let text = self.statements.get(&statement).cloned().unwrap_or_default();
                    self.portals.insert(portal, text);
                }
            }
            b'E' => {
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

    /// Notes a server message the client receives; returns finished statements' lines.
    pub fn server(&mut self, tag: u8, body: &[u8]) -> Vec<serde_json::Value> {
        let mut done = Vec::new();
        let Some(head) = self.pending.front_mut() else { return done };
        match tag {
            b'C' => {
                let text = String::from_utf8_lossy(body);
                let rows =
                    text.trim_end_matches('\0').rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                head.rows += rows;
                if !head.simple {
                    done.extend(self.finish("ok"));
                }
            }
            b'I' | b's' if !head.simple => done.extend(self.finish("ok")),
            b'E' => {
                let (code, _) = crate::protocol::backend::parse_error(BytesMut::from(body));
                head.failed = Some(code);
                if !head.simple {
                    done.extend(self.finish("error"));
                }
            }
            b'Z' if head.simple => {
                let outcome = if head.failed.is_some() { "error" } else { "ok" };
                done.extend(self.finish(outcome));
            }
            _ => {}
        }
        done
    }

    fn finish(&mut self, outcome: &str) -> Option<serde_json::Value> {
        let p = self.pending.pop_front()?;
        Some(json!({
            "event": "statement",
            "statement": p.text,
            "duration_us": p.started.elapsed().as_micros() as u64,
            "rows": p.rows,
            "outcome": outcome,
            "sqlstate": p.failed,
        }))
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
        assert!(audit.server(b'C', &body(&["SELECT 1"])).is_empty());
        assert!(audit.server(b'C', &body(&["SELECT 1"])).is_empty());
        let lines = audit.server(b'Z', &BytesMut::from(&b"I"[..]));
        assert_eq!(lines[0]["rows"], 2);
        assert_eq!(lines[0]["statement"], "select 1; select 2");

        audit.client(b'P', &body(&["s1", "insert into t values ($1)"]));
        audit.client(b'B', &body(&["", "s1"]));
        audit.client(b'E', &body(&[""]));
        let lines = audit.server(b'C', &body(&["INSERT 0 3"]));
        assert_eq!(
            (lines[0]["rows"].as_u64(), lines[0]["statement"].as_str()),
            (Some(3), Some("insert into t values ($1)"))
        );
        assert_eq!(truncate(&vec![b'x'; 5000]).len(), MAX_TEXT);
    }
}
