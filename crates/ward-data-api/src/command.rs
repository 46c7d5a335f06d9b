//! `POST /command {"command", "args"}`: one Redis command as the caller, under the named
//! `[[gate.redis]]`'s rules — its command table (administrative and unknown commands
//! refused), scopes, role rules and key namespace — answered `{"result", "command", "user"}`.
//!
//! A request is one command on a pooled connection, so commands that need a connection of
//! their own are refused: transactions (MULTI/EXEC/WATCH), subscriptions, and blocking
//! commands. What remains leaves no state on the connection, which goes back to the pool as
//! it is, without RESET.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::BytesMut;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use ward_config::gate::RedisGateConfig;
use ward_gate::claims::ClaimTemplate;
use ward_gate::{GateError, RefusalReason};
use ward_redis::commands::Spec;
use ward_redis::dispatch::{Decision, Permissions, Refusal, ReplyShape, decide};
use ward_redis::gate::upstream::{Pool, command};
use ward_redis::namespace::{Namespace, rewrite, rewrite_scan};
use ward_redis::protocol::{Args, Limits, parse_command};
use ward_redis::replies::give_back;
use ward_redis::scripts::ApprovedScripts;
use ward_token::remote::Identity;

use crate::audit::{self, Done};
use crate::error::ApiError;
use crate::{DataApi, auth};

/// What `/command` serves from: the named `[[gate.redis]]`'s rules, with pools of its own.
pub struct Redis {
    pub gate: RedisGateConfig,
    pub pools: HashMap<String, Pool>,
    key_prefix: ClaimTemplate,
    scripts: ApprovedScripts,
}

impl Redis {
    pub fn new(
        gate: &RedisGateConfig,
        pool_size: usize,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, GateError> {
        let upstream = ward_redis::gate::upstream(gate)?;
        let pools = ward_redis::gate::pools(gate, &upstream, pool_size, env)?;
        let key_prefix = ClaimTemplate::parse(&gate.key_prefix)?;
        Ok(Self { gate: gate.clone(), pools, key_prefix, scripts: ApprovedScripts::default() })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandRequest {
    command: String,
    /// Strings, or numbers (sent as their text).
    #[serde(default)]
    args: Vec<Value>,
}

/// The connection's RESP version: replies map to JSON the same either way.
const PROTOCOL: u8 = 2;

pub async fn handle(
    State(api): State<Arc<DataApi>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(redis) = api.redis.as_ref() else {
        return ApiError::NotFound("this API serves no Redis").into_response();
    };
    let started = Instant::now();
    let (identity, body) = match auth::admit(&api, &headers, peer, body).await {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    let request = match auth::parse_body::<CommandRequest>(&body) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let mut call = Call { api: &api, redis, peer, identity: &identity, started, account: "", name: "" };
    let result = call.run(&request).await;
    match result {
        Ok(result) => {
            call.done(Ok(()));
            let command = call.name;
            Json(json!({ "result": result, "command": command, "user": identity.identity })).into_response()
        }
        Err(e) => {
            let code = e.code().to_owned();
            call.done(Err(Some(&code)));
            e.into_response()
        }
    }
}

struct Call<'a> {
    api: &'a DataApi,
    redis: &'a Redis,
    peer: SocketAddr,
    identity: &'a Arc<Identity>,
    started: Instant,
    account: &'a str,
    /// The command's name as the table spells it, once known.
    name: &'static str,
}

impl Call<'_> {
    async fn run(&mut self, request: &CommandRequest) -> Result<Value, ApiError> {
        let (redis, identity) = (self.redis, self.identity);
        let scopes = &redis.gate.scopes;
        let permissions = Permissions {
            read: identity.scopes.contains(&scopes.read),
            write: identity.scopes.contains(&scopes.write),
        };
        if !permissions.read && !permissions.write {
            audit::refused(self.api, self.peer, RefusalReason::Scope);
            return Err(ApiError::InsufficientScope {
                scope: scopes.read.clone(),
                message: format!("/command needs the {} scope ({} to write)", scopes.read, scopes.write),
            });
        }
        let Some(account) = ward_gate::mapping::account_for(&redis.gate.roles, &identity.roles) else {
            audit::refused(self.api, self.peer, RefusalReason::NoMapping);
            return Err(ApiError::Denied("no role mapping for the access token's roles".into()));
        };
        let pool = redis.pools.get(account).ok_or(ApiError::Denied("the account is not configured".into()))?;
        self.account = account;

        let resp = encode(request)?;
        let mut args = Args::default();
        let limits = Limits { max_bulk: redis.gate.max_bulk, ..Limits::CLIENT };
        match parse_command(&resp, &limits, &mut args) {
            Ok(Some(_)) => {}
            _ => return Err(ApiError::InvalidRequest("the command is too large".into())),
        }
        let mut keys = Vec::new();
        let decision =
            decide(&args, &resp, true, permissions, &redis.scripts, &mut keys).map_err(|refusal| match refusal {
                Refusal::Scope { write } => ApiError::InsufficientScope {
                    scope: if write { scopes.write.clone() } else { scopes.read.clone() },
                    message: refusal.code_and_message().1.to_owned(),
                },
                other => {
                    let (code, message) = other.code_and_message();
                    ApiError::Redis { code: code.to_owned(), message: message.to_owned() }
                }
            })?;
        let (spec, patterns, shape) = match decision {
            Decision::Forward { spec, patterns, reply } => (spec, patterns, reply),
            Decision::Nothing | Decision::Own(_) => {
                return Err(ApiError::InvalidRequest(
                    "AUTH, HELLO, QUIT and RESET belong to RESP connections; over HTTP the bearer token \
                     authenticates each request"
                        .into(),
                ));
            }
        };
        self.name = spec.name;
        if let Some(why) = needs_own_connection(spec, shape, &args, &resp) {
            return Err(ApiError::InvalidRequest(format!("{} {why}: use the Redis gate", spec.name)));
        }
        let namespace = Namespace::for_identity(&redis.key_prefix, identity);
        let mut rewritten = BytesMut::with_capacity(resp.len() + 32);
        if spec.name == "SCAN" {
            rewrite_scan(&args, &resp, &namespace, &mut rewritten);
        } else {
            rewrite(&args, &resp, &keys, patterns, &namespace, &mut rewritten);
        }
        let reply = self.send(pool, &rewritten).await?;
        let mut given = BytesMut::with_capacity(reply.len());
        give_back(shape, &reply, &namespace, &mut given)
            .map_err(|_| ApiError::Unavailable("the cache sent a malformed reply"))?;
        if let Some(error) = given.strip_prefix(b"-") {
            let text = String::from_utf8_lossy(error);
            let (code, message) = text.trim_end().split_once(' ').unwrap_or(("ERR", text.trim_end()));
            return Err(ApiError::Redis { code: code.to_owned(), message: message.to_owned() });
        }
        resp_to_json(&given).map(|(value, _)| value).ok_or(ApiError::Unavailable("the cache sent a malformed reply"))
    }

    /// Sends one command on a pooled connection and reads its reply; the connection goes back
    /// only once the reply is read whole.
    async fn send(&self, pool: &Pool, command: &[u8]) -> Result<Vec<u8>, ApiError> {
        use tokio::io::AsyncWriteExt as _;
        let mut lease = pool.acquire(PROTOCOL).await.map_err(|e| {
            tracing::warn!(account = %self.account, error = %e, "no upstream connection for a /command request");
            ApiError::Unavailable("the cache is not available")
        })?;
        let unavailable = |e: std::io::Error| {
            tracing::warn!(account = %self.account, error = %e, "a /command upstream connection failed");
            ApiError::Unavailable("the cache is not available")
        };
        lease.conn.stream.write_all(command).await.map_err(unavailable)?;
        let reply = lease.conn.read_value().await.map_err(unavailable)?;
        pool.put_back(lease);
        Ok(reply)
    }

    fn done(&self, outcome: Result<(), Option<&str>>) {
        if self.account.is_empty() {
            return;
        }
        let done = Done {
            endpoint: "command",
            identity: self.identity,
            account: self.account,
            database: None,
            statement: self.name,
            started: self.started,
            rows: 0,
            outcome,
        };
        done.record(self.api, self.peer);
    }
}

/// The command as RESP: its name and arguments as bulk strings.
fn encode(request: &CommandRequest) -> Result<Vec<u8>, ApiError> {
    let mut parts: Vec<Vec<u8>> = Vec::with_capacity(request.args.len() + 1);
    if request.command.is_empty() || request.command.contains(char::is_whitespace) {
        return Err(ApiError::InvalidRequest("command is one word, such as GET; its arguments go in args".into()));
    }
    parts.push(request.command.as_bytes().to_vec());
    for arg in &request.args {
        parts.push(match arg {
            Value::String(s) => s.as_bytes().to_vec(),
            Value::Number(n) => n.to_string().into_bytes(),
            _ => return Err(ApiError::InvalidRequest("each argument is a string or a number".into())),
        });
    }
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    Ok(command(&parts))
}

/// Why a command cannot be one request on a shared connection, if it cannot.
fn needs_own_connection(spec: &Spec, shape: ReplyShape, args: &Args, buf: &[u8]) -> Option<&'static str> {
    if matches!(spec.name, "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH") {
        return Some("is part of a transaction, which needs a connection of its own");
    }
    if shape == ReplyShape::PubSub {
        return Some("subscribes, which needs a connection of its own");
    }
    // XREAD and XREADGROUP block only when asked to.
    let blocks = match spec.name {
        "XREAD" | "XREADGROUP" => args.iter(buf).any(|a| a.eq_ignore_ascii_case(b"BLOCK")),
        _ => spec.blocking,
    };
    blocks.then_some("blocks, which needs a connection of its own")
}

/// A RESP2 or RESP3 value as JSON, and its length. Bulk strings become JSON strings when they
/// are UTF-8, and `{"base64": …}` when they are not; RESP3 maps become objects, sets arrays,
/// doubles numbers (or strings for inf and nan), big numbers strings.
pub fn resp_to_json(buf: &[u8]) -> Option<(Value, usize)> {
    let (&kind, _) = buf.split_first()?;
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..end]).ok()?;
    let after = end + 2;
    let value = match kind {
        b'+' => (Value::String(line.to_owned()), after),
        b'-' | b'!' => (json!({ "error": line }), after),
        b':' => (Value::from(line.parse::<i64>().ok()?), after),
        b'_' => (Value::Null, after),
        b'#' => (Value::Bool(line == "t"), after),
        b',' => (
            line.parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .unwrap_or_else(|| Value::String(line.to_owned())),
            after,
        ),
        b'(' => (Value::String(line.to_owned()), after),
        b'$' | b'=' => {
            let len: i64 = line.parse().ok()?;
            if len < 0 {
                return Some((Value::Null, after));
            }
            let bytes = buf.get(after..after + len as usize)?;
            // Verbatim strings start with their format: `txt:`.
            let bytes = if kind == b'=' { bytes.get(4..)? } else { bytes };
            let value = match std::str::from_utf8(bytes) {
                Ok(text) => Value::String(text.to_owned()),
                Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
            };
            (value, after + len as usize + 2)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count: i64 = line.parse().ok()?;
            if count < 0 {
                return Some((Value::Null, after));
            }
            let pairs = matches!(kind, b'%' | b'|');
            let mut at = after;
            let mut items = Vec::new();
            for _ in 0..count * if pairs { 2 } else { 1 } {
                let (item, len) = resp_to_json(buf.get(at..)?)?;
                items.push(item);
                at += len;
            }
            if kind == b'|' {
                // Attributes describe the value that follows; the value is the answer.
                let (value, len) = resp_to_json(buf.get(at..)?)?;
                return Some((value, at + len));
            }
            let value = if pairs {
                let mut map = Map::new();
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    let key = match k {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(key, v);
                }
                Value::Object(map)
            } else {
                Value::Array(items)
            };
            (value, at)
        }
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(resp: &str) -> Option<Value> {
        resp_to_json(resp.as_bytes()).map(|(v, len)| {
            assert_eq!(len, resp.len(), "{resp:?} read whole");
            v
        })
    }

    #[test]
    fn replies_as_json() {
        assert_eq!(json_of("+OK\r\n"), Some(json!("OK")));
        assert_eq!(json_of(":-7\r\n"), Some(json!(-7)));
        assert_eq!(json_of("$5\r\nhello\r\n"), Some(json!("hello")));
        assert_eq!(json_of("$-1\r\n"), Some(Value::Null));
        assert_eq!(json_of("*2\r\n$1\r\na\r\n*1\r\n:1\r\n"), Some(json!(["a", [1]])));
        assert_eq!(json_of("%1\r\n+k\r\n,1.5\r\n"), Some(json!({"k": 1.5})));
        assert_eq!(json_of(",inf\r\n"), Some(json!("inf")));
        assert_eq!(json_of("#t\r\n"), Some(json!(true)));
        assert_eq!(json_of("=8\r\ntxt:abcd\r\n"), Some(json!("abcd")));
        assert_eq!(resp_to_json(b"$2\r\n\xff\x00\r\n").map(|(v, _)| v), Some(json!({"base64": "/wA="})));
        assert_eq!(json_of("*3\r\n:1\r\n"), None, "truncated");
    }

    #[test]
    fn commands_encode_as_resp() {
        let request = CommandRequest { command: "SET".into(), args: vec![json!("k"), json!(5)] };
        assert_eq!(encode(&request).unwrap(), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n");
        let bad = CommandRequest { command: "SET".into(), args: vec![json!({"a": 1})] };
        assert!(encode(&bad).is_err());
        let spaced = CommandRequest { command: "GET k".into(), args: vec![] };
        assert!(encode(&spaced).is_err());
    }
}
