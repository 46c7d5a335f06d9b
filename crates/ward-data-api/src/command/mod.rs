//! `POST /command {"command", "args"}`: one Redis command as the caller, under the named
//! `[[gate.redis]]`'s rules — its command table (administrative and unknown commands
//! refused), scopes, role rules and key namespace — answered `{"result", "command", "user"}`.
//!
//! Requests share connections, pipelined (`ward_redis::gate::pipeline`), so commands that need a connection
//! of their own are refused: transactions (MULTI/EXEC/WATCH), subscriptions, and blocking
//! commands. What remains leaves no state on a connection.
//!
//! - [`reply`] — replies as JSON.

pub mod reply;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use bytes::BytesMut;
use http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use ward_config::gate::RedisGateConfig;
use ward_gate::claims::ClaimTemplate;
use ward_gate::{GateError, RefusalReason};
use ward_redis::commands::Spec;
use ward_redis::dispatch::{Decision, Permissions, Refusal, ReplyShape, decide};
use ward_redis::gate::upstream::command;
use ward_redis::namespace::{Namespace, rewrite, rewrite_scan};
use ward_redis::protocol::{Args, Limits, parse_command};
use ward_redis::replies::give_back;
use ward_redis::scripts::ApprovedScripts;
use ward_token::remote::Identity;

use crate::audit::{self, Done, Endpoint};
use crate::error::ApiError;
use crate::{DataApi, auth};
use ward_redis::gate::pipeline::Pipelines;

/// What `/command` serves from: the named `[[gate.redis]]`'s rules, with connections of its
/// own.
pub struct Redis {
    pub gate: RedisGateConfig,
    pipelines: HashMap<String, Pipelines>,
    key_prefix: ClaimTemplate,
    scripts: ApprovedScripts,
}

impl Redis {
    /// `connections` per account; must run on the runtime that will serve the requests.
    pub fn new(
        gate: &RedisGateConfig,
        connections: usize,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, GateError> {
        let upstream = ward_redis::gate::upstream(gate)?;
        let pipelines = ward_redis::gate::pipelines(&ward_redis::gate::logins(gate, env)?, &upstream, connections);
        let key_prefix = ClaimTemplate::parse(&gate.key_prefix)?;
        Ok(Self { gate: gate.clone(), pipelines, key_prefix, scripts: ApprovedScripts::default() })
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
    let (identity, request) = match auth::admit::<CommandRequest>(&api, &headers, peer, body).await {
        Ok(admitted) => admitted,
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
        let pipelines = redis.pipelines.get(account).ok_or(ApiError::Denied("the account is not configured".into()))?;
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
        let reply = pipelines.call(rewritten).await.map_err(|e| {
            tracing::debug!(account = %self.account, error = %e, "no reply from Redis for a /command request");
            ApiError::Unavailable("the cache is not available")
        })?;
        let mut given = BytesMut::with_capacity(reply.len());
        give_back(shape, &reply, &namespace, &mut given)
            .map_err(|_| ApiError::Unavailable("the cache sent a malformed reply"))?;
        if let Some(error) = given.strip_prefix(b"-") {
            let text = String::from_utf8_lossy(error);
            let (code, message) = text.trim_end().split_once(' ').unwrap_or(("ERR", text.trim_end()));
            return Err(ApiError::Redis { code: code.to_owned(), message: message.to_owned() });
        }
        reply::to_json(&given).map(|(value, _)| value).ok_or(ApiError::Unavailable("the cache sent a malformed reply"))
    }

    fn done(&self, outcome: Result<(), Option<&str>>) {
        if self.account.is_empty() {
            return;
        }
        let done = Done {
            endpoint: Endpoint::Command,
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

#[cfg(test)]
mod tests {
    use super::*;

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
