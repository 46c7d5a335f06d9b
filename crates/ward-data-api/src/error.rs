//! Every failure as JSON, `{"error": <code>, "message": <text>, …}`, with the status and the
//! code of the protocol behind it: RFC 6750's `invalid_token` and `insufficient_scope` (with
//! their `WWW-Authenticate` challenges) for the token, SQLSTATE for PostgreSQL, Redis's own
//! error codes for Redis. Nothing internal reaches the client: backend failures are logged
//! and told as "not available".

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};
use ward_pg::protocol::rows::ServerError;

#[derive(Debug)]
pub enum ApiError {
    /// 400: the request itself is wrong.
    InvalidRequest(String),
    /// 413: the body is over `max_body_bytes`.
    TooLarge(String),
    /// 415: the body is not declared JSON.
    NotJson,
    /// 404: no such endpoint, or this API serves no database of that kind.
    NotFound(&'static str),
    /// 405: the endpoint takes another method.
    MethodNotAllowed,
    /// 401 without an error code (RFC 6750 §3.1: the request carried no token).
    NoToken,
    /// 401 `invalid_token`.
    InvalidToken(String),
    /// 403 `insufficient_scope`: the token lacks `scope`.
    InsufficientScope { scope: String, message: String },
    /// 403 `access_denied`: no role rule maps the token, or TLS is required.
    Denied(String),
    /// 503: the backend cannot be reached, or its pool stayed busy.
    Unavailable(&'static str),
    /// 504: the request took longer than `request_timeout`.
    Timeout,
    /// PostgreSQL refused the statement; `scope` set when a read scope tried to write.
    Sql { error: Box<ServerError>, scope: Option<String> },
    /// The gate's own limit on a result (54000), or a statement it does not run (0A000).
    Limit { sqlstate: &'static str, message: String },
    /// Redis answered with an error, or the gate refused the command (`NOPERM`).
    Redis { code: String, message: String },
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NoToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } | Self::Denied(_) => StatusCode::FORBIDDEN,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Sql { scope: Some(_), .. } => StatusCode::FORBIDDEN,
            Self::Sql { error, .. } => sql_status(&error.code),
            Self::Limit { .. } => StatusCode::BAD_REQUEST,
            Self::Redis { code, .. } if code == "NOPERM" => StatusCode::FORBIDDEN,
            Self::Redis { .. } => StatusCode::BAD_REQUEST,
        }
    }

    /// The `error` member: a stable code a program can act on.
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::TooLarge(_) => "request_too_large",
            Self::NotJson => "unsupported_media_type",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NoToken => "unauthorized",
            Self::InvalidToken(_) => "invalid_token",
            Self::InsufficientScope { .. } | Self::Sql { scope: Some(_), .. } => "insufficient_scope",
            Self::Denied(_) => "access_denied",
            Self::Unavailable(_) => "unavailable",
            Self::Timeout => "timeout",
            Self::Sql { .. } | Self::Limit { .. } => "query_failed",
            Self::Redis { code, .. } => code,
        }
    }

    /// The SQLSTATE behind a `/query` failure, for the audit line.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            Self::Sql { error, .. } => Some(&error.code),
            Self::Limit { sqlstate, .. } => Some(sqlstate),
            _ => None,
        }
    }

    fn body(&self) -> Value {
        match self {
            Self::Sql { error, .. } => json!({
                "error": self.code(),
                "sqlstate": error.code,
                "message": error.message,
                "detail": error.detail,
                "hint": error.hint,
                "position": error.position,
            }),
            Self::Limit { sqlstate, message } => {
                json!({ "error": self.code(), "sqlstate": sqlstate, "message": message })
            }
            _ => json!({ "error": self.code(), "message": self.message() }),
        }
    }

    fn message(&self) -> &str {
        match self {
            Self::InvalidRequest(m)
            | Self::TooLarge(m)
            | Self::InvalidToken(m)
            | Self::Denied(m)
            | Self::InsufficientScope { message: m, .. }
            | Self::Limit { message: m, .. }
            | Self::Redis { message: m, .. } => m,
            Self::NotJson => "send the body as Content-Type: application/json",
            Self::MethodNotAllowed => "/query and /command take POST; /openapi.json GET",
            Self::Timeout => "the request took longer than request_timeout",
            Self::NotFound(m) | Self::Unavailable(m) => m,
            Self::NoToken => "send an access token: Authorization: Bearer <token>",
            Self::Sql { error, .. } => &error.message,
        }
    }

    /// RFC 6750 §3's challenge, for the responses that carry one.
    fn challenge(&self) -> Option<String> {
        match self {
            Self::NoToken => Some(r#"Bearer realm="ward""#.to_owned()),
            Self::InvalidToken(description) => Some(format!(
                r#"Bearer realm="ward", error="invalid_token", error_description="{}""#,
                quotable(description)
            )),
            Self::InsufficientScope { scope, .. } | Self::Sql { scope: Some(scope), .. } => {
                Some(format!(r#"Bearer realm="ward", error="insufficient_scope", scope="{}""#, quotable(scope)))
            }
            _ => None,
        }
    }
}

/// A PostgreSQL error's HTTP status: the caller's mistakes 400, permissions 403, the gate's
/// timeout 504, the server's troubles 503.
fn sql_status(sqlstate: &str) -> StatusCode {
    match sqlstate {
        "42501" => StatusCode::FORBIDDEN,
        "57014" => StatusCode::GATEWAY_TIMEOUT,
        // protocol_violation: here, parameters that do not fit the statement.
        "08P01" => StatusCode::BAD_REQUEST,
        s if s.starts_with("08") || s.starts_with("53") || s.starts_with("57P") => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// A value fit for a quoted-string in a header: RFC 6750 allows printable ASCII but `"` and
/// `\`.
fn quotable(text: &str) -> String {
    text.chars().map(|c| if c == '"' || c == '\\' || !(' '..='~').contains(&c) { '\'' } else { c }).collect()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let Some(challenge) = self.challenge().and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint: see /openapi.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(ApiError::NoToken.challenge().as_deref(), Some(r#"Bearer realm="ward""#));
        let invalid = ApiError::InvalidToken(r#"bad "sig" \ here"#.into());
        assert_eq!(
            invalid.challenge().as_deref(),
            Some(r#"Bearer realm="ward", error="invalid_token", error_description="bad 'sig' ' here""#)
        );
        let scope = ApiError::InsufficientScope { scope: "database:write".into(), message: String::new() };
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert!(scope.challenge().is_some_and(|c| c.contains(r#"error="insufficient_scope", scope="database:write""#)));
        assert_eq!(ApiError::Denied("x".into()).challenge(), None);
    }

    #[test]
    fn sql_errors_keep_their_sqlstate() {
        let error =
            ServerError { code: "42P01".into(), message: "relation \"x\" does not exist".into(), ..Default::default() };
        let e = ApiError::Sql { error: Box::new(error), scope: None };
        assert_eq!((e.status(), e.sqlstate()), (StatusCode::BAD_REQUEST, Some("42P01")));
        assert_eq!(e.body()["sqlstate"], "42P01");
        assert_eq!(sql_status("57014"), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(sql_status("08006"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(sql_status("42501"), StatusCode::FORBIDDEN);
    }
}
