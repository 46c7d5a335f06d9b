//! OAuth errors on the wire (RFC 6749 §5.2): JSON body, the RFC's status, never cached.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ward_core::OAuthError;

#[derive(Debug)]
pub struct OAuthRejection {
    pub error: OAuthError,
    pub status: StatusCode,
}

impl OAuthRejection {
    pub fn with_status(error: OAuthError, status: StatusCode) -> Self {
        Self { error, status }
    }
}

impl From<OAuthError> for OAuthRejection {
    fn from(error: OAuthError) -> Self {
        let status = StatusCode::from_u16(error.error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        Self { error, status }
    }
}

impl IntoResponse for OAuthRejection {
    fn into_response(self) -> Response {
        metrics::counter!("ward_oauth_errors_total", "error" => self.error.error.as_str()).increment(1);
        let mut response = (self.status, no_store_json(&self.error)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // Required when the client used HTTP Basic, and a useful hint otherwise (§5.2).
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"ward\""));
        }
        response
    }
}

/// A JSON body with `Cache-Control: no-store`, as token and introspection responses require.
pub fn no_store_json<T: serde::Serialize>(body: &T) -> Response {
    let bytes = match serde_json::to_vec(body) {
        Ok(b) => b,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        bytes,
    )
        .into_response()
}

/// An error at a bearer-token endpoint (RFC 6750 §3): the status, a JSON body, and a
/// `WWW-Authenticate: Bearer` challenge naming the error.
#[derive(Debug)]
pub struct BearerRejection(pub Option<OAuthError>);

impl BearerRejection {
    /// No token was sent: the challenge names no error (RFC 6750 §3.1).
    pub fn missing() -> Self {
        Self(None)
    }
}

impl From<OAuthError> for BearerRejection {
    fn from(error: OAuthError) -> Self {
        Self(Some(error))
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let Some(error) = self.0 else {
            let mut response = StatusCode::UNAUTHORIZED.into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"ward\""));
            return response;
        };
        metrics::counter!("ward_oauth_errors_total", "error" => error.error.as_str()).increment(1);
        let status = StatusCode::from_u16(error.error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        // Descriptions are literals in the RFC 6749 character set: safe inside the quotes.
        let mut challenge = format!("Bearer realm=\"ward\", error=\"{}\"", error.error.as_str());
        if let Some(d) = &error.error_description {
            challenge.push_str(&format!(", error_description=\"{d}\""));
        }
        let mut response = (status, no_store_json(&error)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}
