//! What the server owes for every message the gate sent it, in order: the state machine
//! that decides, for each server message, whether the client sees it. Owns nothing but the
//! queue (no socket, no backend), so every ordering can be tested here.
//!
//! Three things make the queue more than a count:
//! - the gate sends Parse messages of its own (a client's statement prepared again on a
//!   backend that lacks it): their answers are the gate's, never the client's;
//! - the gate answers some client messages itself (a Parse of a statement the backend
//!   already has, a Close of a renamed statement): those answers are due in their turn,
//!   after whatever the server owes before them;
//! - after an ErrorResponse PostgreSQL skips everything up to the next Sync, so the answers
//!   owed for what it skips will never come.

use std::collections::VecDeque;

use crate::protocol::tag::backend as server;

/// An answer the server owes, or one the gate owes the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// ParseComplete, BindComplete or CloseComplete for a client's message; `prepares`: the
    /// server-side statement a Parse creates.
    Completion { prepares: Option<String> },
    /// ParseComplete for the gate's own Parse of `prepares`: the client must not see it.
    Ignore { prepares: String },
    /// An optional ParameterDescription, then RowDescription or NoData.
    Describe,
    /// Rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute,
    /// ReadyForQuery.
    Sync,
    /// A simple query or function call: everything up to ReadyForQuery.
    UntilReady,
    /// An answer the gate gives the client itself (this tag, empty body), when its turn comes.
    Simulated(u8),
}

/// What to do with one server message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The client sees it.
    Forward,
    /// The answer to the gate's own message: the client must not see it.
    Ignore,
    /// The gate's own message failed: the session cannot go on as the client expects.
    GateFailed,
}

#[derive(Debug, Default)]
pub struct ExpectQueue {
    queue: VecDeque<Reply>,
}

impl ExpectQueue {
    /// The server owes `reply` for a message just sent.
    pub fn expect(&mut self, reply: Reply) {
        self.queue.push_back(reply);
    }

    /// The gate sent a Parse of its own for `statement`.
    pub fn ignore(&mut self, statement: String) {
        self.queue.push_back(Reply::Ignore { prepares: statement });
    }

    /// The gate will answer the client with `tag` itself, after what is owed before it.
    pub fn simulate(&mut self, tag: u8) {
        self.queue.push_back(Reply::Simulated(tag));
    }

    /// The next answer the gate owes the client, if it is due now (nothing the server owes
    /// comes before it).
    pub fn take_simulated(&mut self) -> Option<u8> {
        match self.queue.front() {
            Some(Reply::Simulated(tag)) => {
                let tag = *tag;
                self.queue.pop_front();
                Some(tag)
            }
            _ => None,
        }
    }

    /// Nothing owed either way.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// Whether the front answer is the gate's own: a message too large to hold must then be
    /// read whole rather than relayed to the client as it arrives.
    pub fn ignoring(&self) -> bool {
        matches!(self.queue.front(), Some(Reply::Ignore { .. }))
    }

    /// Routes one server message by its tag. Statements the server will not create after
    /// all (their Parse was skipped after an error) are passed to `unprepared`.
    pub fn on_server_message(&mut self, tag: u8, mut unprepared: impl FnMut(&str)) -> Action {
        let ignoring = self.ignoring();
        match tag {
            server::ERROR_RESPONSE => {
                if ignoring {
                    return Action::GateFailed;
                }
                if !matches!(self.queue.front(), Some(Reply::UntilReady | Reply::Sync) | None) {
                    // PostgreSQL skips everything up to the next Sync.
                    while let Some(reply) = self.queue.front() {
                        match reply {
                            Reply::Sync => break,
                            Reply::Completion { prepares: Some(name) } | Reply::Ignore { prepares: name } => {
                                unprepared(name)
                            }
                            _ => {}
                        }
                        self.queue.pop_front();
                    }
                }
            }
            server::PARSE_COMPLETE | server::BIND_COMPLETE | server::CLOSE_COMPLETE => {
                if matches!(self.queue.front(), Some(Reply::Completion { .. } | Reply::Ignore { .. })) {
                    self.queue.pop_front();
                }
            }
            server::ROW_DESCRIPTION | server::NO_DATA if self.queue.front() == Some(&Reply::Describe) => {
                self.queue.pop_front();
            }
            server::COMMAND_COMPLETE | server::EMPTY_QUERY_RESPONSE | server::PORTAL_SUSPENDED
                if self.queue.front() == Some(&Reply::Execute) =>
            {
                self.queue.pop_front();
            }
            server::READY_FOR_QUERY => {
                if matches!(self.queue.front(), Some(Reply::Sync | Reply::UntilReady)) {
                    self.queue.pop_front();
                }
            }
            // ParameterStatus is the session's, whoever caused it: the client must know.
            server::PARAMETER_STATUS => return Action::Forward,
            _ => {}
        }
        if ignoring { Action::Ignore } else { Action::Forward }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::tag::frontend as client;

    /// What the queue expects for each client message, as the loop records it.
    fn send(q: &mut ExpectQueue, tags: &[u8]) {
        for tag in tags {
            q.expect(match *tag {
                client::PARSE | client::BIND | client::CLOSE => Reply::Completion { prepares: None },
                client::DESCRIBE => Reply::Describe,
                client::EXECUTE => Reply::Execute,
                client::SYNC => Reply::Sync,
                _ => Reply::UntilReady,
            });
        }
    }

    /// The server's messages through the queue; the tags the client sees (simulated answers
    /// in their turn) and the last action.
    fn receive(q: &mut ExpectQueue, tags: &[u8]) -> (Vec<u8>, Action) {
        let mut seen = Vec::new();
        let mut last = Action::Forward;
        for tag in tags {
            seen.extend(std::iter::from_fn(|| q.take_simulated()));
            last = q.on_server_message(*tag, |_| {});
            if last == Action::Forward {
                seen.push(*tag);
            }
            seen.extend(std::iter::from_fn(|| q.take_simulated()));
        }
        (seen, last)
    }

    #[test]
    fn an_error_skips_to_sync() {
        let mut q = ExpectQueue::default();
        send(&mut q, b"PBES");
        // ErrorResponse answers the Parse; PostgreSQL skips Bind and Execute until the Sync.
        let (seen, _) = receive(&mut q, b"E");
        assert_eq!(seen, b"E");
        assert_eq!(q.len(), 1, "only the Sync is still owed");
        receive(&mut q, b"Z");
        assert!(q.is_empty());
    }

    #[test]
    fn an_error_in_a_simple_query_waits_for_its_ready() {
        let mut q = ExpectQueue::default();
        send(&mut q, b"Q");
        receive(&mut q, b"CCE");
        assert_eq!(q.len(), 1, "a simple query ends only at ReadyForQuery");
        receive(&mut q, b"Z");
        assert!(q.is_empty());
    }

    #[test]
    fn a_pipeline_is_settled_only_at_its_last_sync() {
        let mut q = ExpectQueue::default();
        send(&mut q, b"PBESPBES");
        receive(&mut q, b"12CZ");
        assert!(!q.is_empty(), "a second Sync is still owed");
        // An error in the second part skips only to the second Sync.
        receive(&mut q, b"1E");
        assert_eq!(q.len(), 1);
        receive(&mut q, b"Z");
        assert!(q.is_empty());
    }

    #[test]
    fn simulated_answers_wait_for_what_the_server_owes_before_them() {
        let mut q = ExpectQueue::default();
        // Bind, Execute, then a Parse the gate answers itself, then Sync.
        send(&mut q, b"BE");
        q.simulate(server::PARSE_COMPLETE);
        send(&mut q, b"S");
        assert_eq!(q.take_simulated(), None, "BindComplete and the rows come first");
        let (seen, _) = receive(&mut q, b"2CZ");
        assert_eq!(seen, b"2C1Z");
        assert!(q.is_empty());
        // Due at once when nothing comes before it: a Close of a renamed statement.
        q.simulate(server::CLOSE_COMPLETE);
        assert_eq!(q.take_simulated(), Some(server::CLOSE_COMPLETE));
    }

    #[test]
    fn the_gates_own_parse_is_unseen_and_its_failure_ends_the_session() {
        let mut q = ExpectQueue::default();
        q.ignore("ward_x".into());
        send(&mut q, b"BES");
        let (seen, _) = receive(&mut q, b"12CZ");
        assert_eq!(seen, b"2CZ", "its ParseComplete is not the client's to see");
        assert!(q.is_empty());
        q.ignore("ward_x".into());
        send(&mut q, b"BES");
        assert_eq!(q.on_server_message(server::ERROR_RESPONSE, |_| {}), Action::GateFailed);
    }

    #[test]
    fn notices_while_the_gate_waits_on_its_own_answer_stay_hidden_but_parameters_pass() {
        let mut q = ExpectQueue::default();
        q.ignore("ward_x".into());
        assert_eq!(q.on_server_message(server::NOTICE_RESPONSE, |_| {}), Action::Ignore);
        assert_eq!(q.on_server_message(server::PARAMETER_STATUS, |_| {}), Action::Forward);
        assert_eq!(q.on_server_message(server::PARSE_COMPLETE, |_| {}), Action::Ignore);
        assert!(q.is_empty());
        assert_eq!(q.on_server_message(server::NOTIFICATION_RESPONSE, |_| {}), Action::Forward);
    }

    #[test]
    fn statements_skipped_after_an_error_are_reported_unprepared() {
        let mut q = ExpectQueue::default();
        send(&mut q, b"B");
        q.expect(Reply::Completion { prepares: Some("ward_a".into()) });
        q.expect(Reply::Ignore { prepares: "ward_b".into() });
        send(&mut q, b"ES");
        let mut unprepared = Vec::new();
        assert_eq!(q.on_server_message(server::ERROR_RESPONSE, |n| unprepared.push(n.to_owned())), Action::Forward);
        assert_eq!(unprepared, ["ward_a", "ward_b"]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn describe_answers_pop_only_a_describe() {
        let mut q = ExpectQueue::default();
        send(&mut q, b"DS");
        receive(&mut q, b"t");
        assert_eq!(q.len(), 2, "ParameterDescription comes before the RowDescription");
        receive(&mut q, b"TZ");
        assert!(q.is_empty());
        // A RowDescription inside an Execute's answer (a simple query) pops nothing.
        send(&mut q, b"Q");
        receive(&mut q, b"TDC");
        assert_eq!(q.len(), 1);
    }
}
