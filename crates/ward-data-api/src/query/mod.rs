//! `POST /query {"query", "params"}`: one statement as the caller, through `ward-pg`'s pools,
//! role rules and identity context, answered `{"columns", "rows", "row_count", "command"}`.
//!
//! - [`exchange`] — the statement on a backend: transaction, limits, and when the backend may
//!   go back to the pool.
//! - [`json`] — values by type, as JSON.
//! - [`array`] — array literals, as JSON arrays.

pub mod array;
pub mod exchange;
pub mod json;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use serde_json::Value;
use ward_config::gate::PostgresGateConfig;
use ward_gate::{GateError, RefusalReason};
use ward_pg::gate::context::SessionIdentity;
use ward_pg::gate::framed::assign::{FULL_RESET, assign};
use ward_pg::gate::pool::{AcquireError, Pool};
use ward_pg::gate::session_state::may_change_session;
use ward_pg::gate::signed_identity::IdentitySigner;
use ward_pg::protocol::frontend::StartupParams;
use ward_token::remote::Identity;

use self::exchange::{Access, Answer, Limits};
use crate::audit::{self, Done, Endpoint};
use crate::error::ApiError;
use crate::{DataApi, auth};

/// What `/query` serves from: the named `[[gate.postgres]]`'s rules, with pools of its own.
pub struct Postgres {
    pub gate: PostgresGateConfig,
    pub pools: HashMap<String, Arc<Pool>>,
    signer: Option<Arc<IdentitySigner>>,
    /// Set on every backend with the identity: the text formats [`json`] reads, and
    /// `statement_timeout`.
    params: StartupParams,
}

impl Postgres {
    pub fn new(
        gate: &PostgresGateConfig,
        pool_size: usize,
        statement_timeout: std::time::Duration,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, GateError> {
        let (_, pools) = ward_pg::gate::pools(gate, pool_size, env)?;
        let signer = gate.signed_identity.as_ref().map(|s| IdentitySigner::new(s, env)).transpose()?.map(Arc::new);
        let params = [
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, YMD"),
            ("IntervalStyle", "iso_8601"),
            ("TimeZone", "UTC"),
            ("extra_float_digits", "1"),
            ("application_name", "ward-data-api"),
        ];
        let mut params: Vec<_> = params.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
        // Set with the identity, once per backend, rather than in every request's transaction.
        let timeout = format!("-c statement_timeout={}", statement_timeout.as_millis().max(1));
        params.push(("options".into(), timeout));
        let params = StartupParams(params);
        Ok(Self { gate: gate.clone(), pools, signer, params })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryRequest {
    query: String,
    /// `$1`, `$2`, …: strings, numbers and booleans as their text, objects and arrays as JSON
    /// text, null as SQL NULL. PostgreSQL infers each parameter's type from the statement.
    #[serde(default)]
    params: Vec<Value>,
}

/// The protocol's count of parameters is 16 bits.
const MAX_PARAMS: usize = u16::MAX as usize;

pub async fn handle(
    State(api): State<Arc<DataApi>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(postgres) = api.postgres.as_ref() else {
        return ApiError::NotFound("this API serves no PostgreSQL database").into_response();
    };
    let started = Instant::now();
    let (identity, request) = match auth::admit::<QueryRequest>(&api, &headers, peer, body).await {
        Ok(admitted) => admitted,
        Err(e) => return e.into_response(),
    };
    let mut call = Call { api: &api, postgres, peer, identity: &identity, started, account: "" };
    match call.run(&request).await {
        Ok(answer) => {
            call.done(&request.query, answer.rows, Ok(()));
            let mut response = answer.body.into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(e) => {
            call.done(&request.query, 0, Err(e.sqlstate()));
            e.into_response()
        }
    }
}

/// One request past authentication.
struct Call<'a> {
    api: &'a DataApi,
    postgres: &'a Postgres,
    peer: SocketAddr,
    identity: &'a Arc<Identity>,
    started: Instant,
    account: &'a str,
}

impl<'a> Call<'a> {
    async fn run(&mut self, request: &QueryRequest) -> Result<Answer, ApiError> {
        let (api, postgres, identity) = (self.api, self.postgres, self.identity);
        let scopes = &api.config.scopes;
        let access = if identity.scopes.contains(&scopes.write) {
            Access::Write
        } else if identity.scopes.contains(&scopes.read) {
            Access::Read
        } else {
            audit::refused(api, self.peer, RefusalReason::Scope);
            return Err(ApiError::InsufficientScope {
                scope: scopes.read.clone(),
                message: format!("/query needs the {} scope ({} to write)", scopes.read, scopes.write),
            });
        };
        let params = text_params(&request.params)?;
        if request.query.trim().is_empty() {
            return Err(ApiError::InvalidRequest("the query is empty".into()));
        }
        if request.query.contains('\0') {
            return Err(ApiError::InvalidRequest("the query contains a NUL character".into()));
        }
        let account = ward_gate::mapping::account_for(&postgres.gate.roles, &identity.roles);
        let Some((account, pool)) = account.and_then(|a| Some((a.as_str(), postgres.pools.get(a)?))) else {
            audit::refused(api, self.peer, RefusalReason::NoMapping);
            return Err(ApiError::Denied("no role mapping for the access token's roles".into()));
        };
        self.account = account;
        let who = SessionIdentity::new(&postgres.gate.context, identity, &postgres.params, postgres.signer.as_ref());
        let mut lease = assign(pool, &who, FULL_RESET, postgres.gate.reset_timeout).await.map_err(|e| {
            tracing::warn!(account, error = %e, "no backend connection for a /query request");
            match e {
                AcquireError::QueueTimeout => {
                    ApiError::Unavailable("too many requests for this service account; try again later")
                }
                AcquireError::Backend(_) => ApiError::Unavailable("the database is not available"),
            }
        })?;
        let limits = Limits {
            statement_timeout: api.config.statement_timeout,
            max_rows: api.config.max_rows,
            max_result_bytes: api.config.max_result_bytes,
        };
        let exchange = exchange::run(&mut lease.backend, &request.query, &params, access, limits).await;
        if exchange.reusable {
            // Settings, advisory locks, prepared statements: the next request of this identity
            // gets a full reset first (another identity always does).
            lease.backend.dirty |= may_change_session(request.query.as_bytes());
            pool.put_back(lease);
        }
        exchange.result.map_err(|e| match e {
            // A read scope's statement tried to write: the scope is what it lacks.
            ApiError::Sql { error, scope: None } if access == Access::Read && error.code == "25006" => {
                ApiError::Sql { error, scope: Some(scopes.write.clone()) }
            }
            e => e,
        })
    }

    fn done(&self, statement: &str, rows: u64, outcome: Result<(), Option<&str>>) {
        if self.account.is_empty() {
            return;
        }
        let database = Some(self.postgres.gate.upstream.database.as_str());
        let done = Done {
            endpoint: Endpoint::Query,
            identity: self.identity,
            account: self.account,
            database,
            statement,
            started: self.started,
            rows,
            outcome,
        };
        done.record(self.api, self.peer);
    }
}

/// Parameters as PostgreSQL's text format.
fn text_params(params: &[Value]) -> Result<Vec<Option<String>>, ApiError> {
    if params.len() > MAX_PARAMS {
        return Err(ApiError::InvalidRequest(format!("at most {MAX_PARAMS} parameters")));
    }
    Ok(params
        .iter()
        .map(|p| match p {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            other => Some(other.to_string()),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_as_text() {
        let params = serde_json::json!(["a", 1, 2.5, true, null, {"k": [1]}, [1, 2]]);
        let text = text_params(params.as_array().unwrap()).unwrap();
        let expected = [Some("a"), Some("1"), Some("2.5"), Some("true"), None, Some(r#"{"k":[1]}"#), Some("[1,2]")];
        assert_eq!(text, expected.map(|p| p.map(str::to_owned)));
    }

    #[test]
    fn unknown_members_are_refused() {
        assert!(auth::parse_body::<QueryRequest>(br#"{"query": "select 1", "parms": [1]}"#).is_err());
        assert!(auth::parse_body::<QueryRequest>(br#"{"query": "select 1"}"#).is_ok());
        assert!(auth::parse_body::<QueryRequest>(br#"{"params": []}"#).is_err());
    }
}
