//! One statement on a backend that [`ward_pg::gate::framed::assign::assign`] has set up for
//! the caller (its identity, and `statement_timeout`, as session settings), in one round trip
//! for a read and two for a write:
//!
//! ```text
//! Query   BEGIN [READ ONLY]
//! Parse, Bind, Describe, Execute (at most max_rows + 1 rows), Sync
//! Query   ROLLBACK                       (read: always, in the same round trip)
//! Query   COMMIT or ROLLBACK             (write: once the statement's outcome is known)
//! ```
//!
//! The extended protocol runs exactly one statement (`COMMIT; DELETE …` is a syntax error, not
//! two statements), and a read scope's transaction is READ ONLY from its start, so nothing it
//! runs — a data-modifying CTE, a function that writes, COPY FROM — can write. The statements
//! that could make it read-write (`SET TRANSACTION READ WRITE`, `BEGIN READ WRITE` inside it)
//! take no snapshot and write nothing themselves, and being the request's one statement, are
//! followed only by the ROLLBACK; a statement that does take a snapshot (a function, a DO
//! block) can no longer change the mode (PostgreSQL: 25001). The ROLLBACK also undoes whatever
//! settings the read made.
//!
//! A write commits only when its statement succeeded within the limits, so an over-long result
//! changes nothing.
//!
//! The backend goes back to the pool only from a known state: idle, every answer read. COPY,
//! a result over `max_result_bytes`, or no answer in time, and it is closed instead (which
//! rolls back whatever was open).

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use ward_pg::gate::backend::Backend;
use ward_pg::protocol::codec::{put_cstr, put_frame, put_value};
use ward_pg::protocol::frontend::{encode_query, encode_sync};
use ward_pg::protocol::rows::{for_each_value, parse_command_complete, parse_row_description, parse_server_error};
use ward_pg::protocol::tag::{backend as server, frontend as client, status, target};

use super::json::{self, Kind};
use crate::error::ApiError;

/// Whether the statement may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub statement_timeout: Duration,
    pub max_rows: usize,
    pub max_result_bytes: usize,
}

/// A successful statement's answer, as the response body.
#[derive(Debug)]
pub struct Answer {
    pub body: Vec<u8>,
    pub rows: u64,
}

/// What happened, and whether the backend may serve another request.
pub struct Exchange {
    pub result: Result<Answer, ApiError>,
    pub reusable: bool,
}

/// The gate's own wait beyond `statement_timeout`, for a server that does not answer at all.
const GRACE: Duration = Duration::from_secs(5);

pub async fn run(
    backend: &mut Backend,
    sql: &str,
    params: &[Option<String>],
    access: Access,
    limits: Limits,
) -> Exchange {
    match tokio::time::timeout(limits.statement_timeout + GRACE, exchange(backend, sql, params, access, limits)).await {
        Ok(exchange) => exchange,
        Err(_) => {
            let message = "the statement did not finish within statement_timeout".into();
            Exchange { result: Err(ApiError::Limit { sqlstate: "57014", message }), reusable: false }
        }
    }
}

async fn exchange(
    backend: &mut Backend,
    sql: &str,
    params: &[Option<String>],
    access: Access,
    limits: Limits,
) -> Exchange {
    let mut batch = BytesMut::new();
    encode_query(
        &mut batch,
        match access {
            Access::Read => "BEGIN READ ONLY",
            Access::Write => "BEGIN",
        },
    );
    encode_statement(&mut batch, sql, params, limits.max_rows);
    encode_sync(&mut batch);
    if access == Access::Read {
        encode_query(&mut batch, "ROLLBACK");
    }
    let mut collect = Collect::new(limits);
    let readies = if access == Access::Read { 3 } else { 2 };
    let mut last = match round_trip(backend, &mut collect, &batch, readies).await {
        Ok(last) => last,
        Err(given_up) => return given_up,
    };
    if access == Access::Write {
        // The statement's own status decides: a failed or over-long one is rolled back, a
        // statement that ended the transaction itself (COMMIT) leaves nothing to end.
        let end = match last {
            status::IDLE => None,
            status::IN_TRANSACTION if collect.error.is_none() => Some("COMMIT"),
            _ => Some("ROLLBACK"),
        };
        if let Some(end) = end {
            let mut batch = BytesMut::new();
            encode_query(&mut batch, end);
            collect.phase = Phase::Ending;
            last = match round_trip(backend, &mut collect, &batch, 1).await {
                Ok(last) => last,
                Err(given_up) => return given_up,
            };
        }
    }
    Exchange { reusable: last == status::IDLE, result: collect.finish() }
}

/// Sends `batch` and reads its answers up to the `readies`-th ReadyForQuery, whose status it
/// returns; or, when the connection failed or the collector gave up on it, the exchange's end.
async fn round_trip(
    backend: &mut Backend,
    collect: &mut Collect,
    batch: &[u8],
    readies: usize,
) -> Result<u8, Exchange> {
    let given_up = |error| Exchange { result: Err(error), reusable: false };
    let broken = |e: std::io::Error| {
        tracing::warn!(error = %e, "a /query backend connection failed");
        given_up(ApiError::Unavailable("the database is not available"))
    };
    backend.conn.send(batch).await.map_err(broken)?;
    match read_until(backend, collect, readies).await {
        Ok(Some(last)) => Ok(last),
        Ok(None) => Err(given_up(collect.take_error())),
        Err(e) => Err(broken(e)),
    }
}

/// Reads answers until the `readies`-th ReadyForQuery, whose status it returns; `None` when
/// the collector gave up on the connection.
async fn read_until(backend: &mut Backend, collect: &mut Collect, readies: usize) -> std::io::Result<Option<u8>> {
    let mut seen = 0;
    loop {
        let (tag, len) = backend.conn.read_header().await?;
        if tag == server::DATA_ROW && !collect.has_room(len) {
            return Ok(None);
        }
        let body = backend.conn.read_body(len, collect.message_limit()).await?;
        match collect.on_message(tag, &body) {
            Step::Continue => {}
            Step::Ready(status) => {
                seen += 1;
                if seen == readies {
                    return Ok(Some(status));
                }
            }
            Step::Abandon => return Ok(None),
        }
    }
}

/// Parse, Bind (text parameters, text results), Describe and Execute of the unnamed
/// statement and portal.
fn encode_statement(out: &mut BytesMut, sql: &str, params: &[Option<String>], max_rows: usize) {
    put_frame(out, client::PARSE, |b| {
        put_cstr(b, "");
        put_cstr(b, sql);
        b.put_i16(0);
    });
    put_frame(out, client::BIND, |b| {
        put_cstr(b, "");
        put_cstr(b, "");
        b.put_i16(0);
        b.put_u16(params.len() as u16);
        for param in params {
            put_value(b, param.as_deref().map(str::as_bytes));
        }
        b.put_i16(0);
    });
    put_frame(out, client::DESCRIBE, |b| {
        b.put_u8(target::PORTAL);
        put_cstr(b, "");
    });
    put_frame(out, client::EXECUTE, |b| {
        put_cstr(b, "");
        // One more than allowed: its arrival is how an over-long result shows.
        b.put_i32(i32::try_from(max_rows.saturating_add(1)).unwrap_or(i32::MAX));
    });
}

/// Where in the exchange the answers are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Begin,
    Statement,
    /// The read's ROLLBACK, or the write's COMMIT or ROLLBACK.
    Ending,
}

enum Step {
    Continue,
    Ready(u8),
    /// The connection is in a state the gate will not try to recover (COPY, a result too
    /// large to read): close it.
    Abandon,
}

/// The answers to one exchange, judged and turned into the response body, sans IO.
struct Collect {
    limits: Limits,
    phase: Phase,
    /// Each column's name as a JSON key (quoted, with the colon), and its mapping.
    columns: Vec<(Vec<u8>, Kind)>,
    columns_json: Vec<u8>,
    rows_json: Vec<u8>,
    rows: u64,
    row_bytes: usize,
    command: Option<(String, Option<u64>)>,
    error: Option<ApiError>,
}

impl Collect {
    fn new(limits: Limits) -> Self {
        Self {
            limits,
            phase: Phase::Begin,
            columns: Vec::new(),
            columns_json: b"[]".to_vec(),
            rows_json: Vec::new(),
            rows: 0,
            row_bytes: 0,
            command: None,
            error: None,
        }
    }

    /// Largest message read whole: a row within the result limit, or a description.
    fn message_limit(&self) -> usize {
        self.limits.max_result_bytes.max(1 << 20)
    }

    /// Whether a DataRow of `len` bytes stays within `max_result_bytes`.
    fn has_room(&mut self, len: usize) -> bool {
        if self.row_bytes.saturating_add(len) <= self.limits.max_result_bytes {
            return true;
        }
        self.fail(ApiError::Limit {
            sqlstate: "54000",
            message: format!(
                "the result is larger than {} bytes (max_result_bytes); select fewer rows or columns",
                self.limits.max_result_bytes
            ),
        });
        false
    }

    fn fail(&mut self, error: ApiError) {
        self.error.get_or_insert(error);
    }

    fn take_error(&mut self) -> ApiError {
        self.error.take().unwrap_or(ApiError::Unavailable("the database is not available"))
    }

    fn on_message(&mut self, tag: u8, body: &[u8]) -> Step {
        match tag {
            server::READY_FOR_QUERY => {
                if self.phase == Phase::Begin {
                    self.phase = Phase::Statement;
                } else if self.phase == Phase::Statement {
                    self.phase = Phase::Ending;
                }
                return Step::Ready(body.first().copied().unwrap_or(status::IDLE));
            }
            server::ERROR_RESPONSE => {
                self.fail(ApiError::Sql { error: Box::new(parse_server_error(body)), scope: None })
            }
            _ if self.phase != Phase::Statement => {}
            server::ROW_DESCRIPTION => self.on_columns(body),
            server::DATA_ROW if self.error.is_none() => self.on_row(body),
            server::COMMAND_COMPLETE => self.command = Some(parse_command_complete(body)),
            server::PORTAL_SUSPENDED => self.fail(ApiError::Limit {
                sqlstate: "54000",
                message: format!(
                    "the result has more than {} rows (max_rows); add a LIMIT or narrow the query",
                    self.limits.max_rows
                ),
            }),
            server::EMPTY_QUERY_RESPONSE => self.fail(ApiError::InvalidRequest("the query is empty".into())),
            server::COPY_IN_RESPONSE | server::COPY_OUT_RESPONSE | server::COPY_BOTH_RESPONSE => {
                self.fail(ApiError::Limit {
                    sqlstate: "0A000",
                    message: "COPY is not served over HTTP; use psql through the PostgreSQL gate".into(),
                });
                return Step::Abandon;
            }
            _ => {}
        }
        Step::Continue
    }

    fn on_columns(&mut self, body: &[u8]) {
        let Some(columns) = parse_row_description(body) else {
            return self.fail(ApiError::Unavailable("the database sent a malformed row description"));
        };
        let mut json = vec![b'['];
        for (i, column) in columns.iter().enumerate() {
            if columns[..i].iter().any(|c| c.name == column.name) {
                return self.fail(ApiError::Limit {
                    sqlstate: "42712",
                    message: format!(
                        "the column name {:?} appears twice in the result; name the columns apart with AS",
                        column.name
                    ),
                });
            }
            let (type_name, kind) = json::lookup(column.type_oid).unwrap_or(("", Kind::Scalar(json::Scalar::Text)));
            let mut key = Vec::with_capacity(column.name.len() + 3);
            json::write_string(&mut key, column.name.as_bytes());
            key.push(b':');
            if i > 0 {
                json.push(b',');
            }
            json.extend_from_slice(b"{\"name\":");
            json.extend_from_slice(&key[..key.len() - 1]);
            json.extend_from_slice(b",\"type\":");
            match type_name {
                "" => json::write_string(&mut json, b"unknown"),
                name => json::write_string(&mut json, name.as_bytes()),
            }
            json.extend_from_slice(format!(",\"type_oid\":{}}}", column.type_oid).as_bytes());
            self.columns.push((key, kind));
        }
        json.push(b']');
        self.columns_json = json;
    }

    fn on_row(&mut self, body: &[u8]) {
        self.row_bytes += body.len();
        self.rows += 1;
        let out = &mut self.rows_json;
        if self.rows > 1 {
            out.push(b',');
        }
        out.push(b'{');
        let columns = &self.columns;
        let well_formed = for_each_value(body, |i, value| {
            let Some((key, kind)) = columns.get(i) else { return };
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            json::write_value(out, *kind, value);
        });
        out.push(b'}');
        if !well_formed {
            self.fail(ApiError::Unavailable("the database sent a malformed row"));
        }
    }

    /// The response body, or why there is none.
    fn finish(mut self) -> Result<Answer, ApiError> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let (command, count) = self.command.take().unwrap_or_default();
        // SELECT's count is its rows; INSERT/UPDATE/DELETE/MERGE's the rows they touched.
        let row_count = count.unwrap_or(self.rows);
        let mut body = Vec::with_capacity(self.rows_json.len() + self.columns_json.len() + 64);
        body.extend_from_slice(b"{\"columns\":");
        body.extend_from_slice(&self.columns_json);
        body.extend_from_slice(b",\"rows\":[");
        body.extend_from_slice(&self.rows_json);
        body.extend_from_slice(format!("],\"row_count\":{row_count},\"command\":").as_bytes());
        json::write_string(&mut body, command.as_bytes());
        body.push(b'}');
        Ok(Answer { body, rows: row_count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { statement_timeout: Duration::from_secs(1), max_rows: 2, max_result_bytes: 1024 }
    }

    fn description(columns: &[(&str, u32)]) -> BytesMut {
        let mut body = BytesMut::new();
        body.put_i16(columns.len() as i16);
        for (name, oid) in columns {
            put_cstr(&mut body, name);
            body.put_u32(0);
            body.put_i16(0);
            body.put_u32(*oid);
            body.put_i16(-1);
            body.put_i32(-1);
            body.put_i16(0);
        }
        body
    }

    fn row(values: &[Option<&str>]) -> BytesMut {
        let mut body = BytesMut::new();
        body.put_i16(values.len() as i16);
        for v in values {
            put_value(&mut body, v.map(str::as_bytes));
        }
        body
    }

    /// Feeds a whole exchange; the body of the answer as JSON, or the error.
    fn feed(collect: &mut Collect, messages: &[(u8, &[u8])]) -> usize {
        let mut readies = 0;
        for (tag, body) in messages {
            if let Step::Ready(_) = collect.on_message(*tag, body) {
                readies += 1;
            }
        }
        readies
    }

    #[test]
    fn rows_become_objects_in_column_order() {
        let mut c = Collect::new(limits());
        let d = description(&[("id", 23), ("tags", 1009), ("at", 1184)]);
        let r = row(&[Some("7"), Some("{a,\"b c\"}"), None]);
        let ready = [b'T'];
        let idle = [b'I'];
        let readies = feed(
            &mut c,
            &[
                (server::COMMAND_COMPLETE, b"BEGIN\0"),
                (server::READY_FOR_QUERY, &ready),
                (server::PARSE_COMPLETE, b""),
                (server::BIND_COMPLETE, b""),
                (server::ROW_DESCRIPTION, &d),
                (server::DATA_ROW, &r),
                (server::COMMAND_COMPLETE, b"SELECT 1\0"),
                (server::READY_FOR_QUERY, &ready),
                (server::COMMAND_COMPLETE, b"ROLLBACK\0"),
                (server::READY_FOR_QUERY, &idle),
            ],
        );
        assert_eq!(readies, 3);
        let answer = c.finish().unwrap_or_else(|e| panic!("{e:?}"));
        let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["rows"], serde_json::json!([{"id": 7, "tags": ["a", "b c"], "at": null}]));
        assert_eq!(body["columns"][1], serde_json::json!({"name": "tags", "type": "_text", "type_oid": 1009}));
        assert_eq!((body["row_count"].as_u64(), body["command"].as_str()), (Some(1), Some("SELECT")));
    }

    #[test]
    fn limits_and_refusals_are_errors() {
        let d = description(&[("a", 23), ("a", 23)]);
        let mut c = Collect::new(limits());
        c.phase = Phase::Statement;
        c.on_message(server::ROW_DESCRIPTION, &d);
        assert!(matches!(c.finish(), Err(ApiError::Limit { sqlstate: "42712", .. })));

        let mut c = Collect::new(limits());
        c.phase = Phase::Statement;
        c.on_message(server::PORTAL_SUSPENDED, b"");
        assert!(matches!(c.finish(), Err(ApiError::Limit { sqlstate: "54000", .. })));

        let mut c = Collect::new(limits());
        c.phase = Phase::Statement;
        assert!(matches!(c.on_message(server::COPY_IN_RESPONSE, b"\0\0\0"), Step::Abandon));
        assert!(!Collect::new(limits()).has_room(2048));
    }

    #[test]
    fn the_first_error_is_the_one_told() {
        let mut c = Collect::new(limits());
        c.phase = Phase::Statement;
        c.on_message(server::ERROR_RESPONSE, b"SERROR\0C25006\0Mcannot execute INSERT in a read-only transaction\0\0");
        c.on_message(server::ERROR_RESPONSE, b"SERROR\0C25P02\0Mcurrent transaction is aborted\0\0");
        match c.finish() {
            Err(ApiError::Sql { error, .. }) => assert_eq!(error.code, "25006"),
            other => panic!("{other:?}"),
        }
    }
}
