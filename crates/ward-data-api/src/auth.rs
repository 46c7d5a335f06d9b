//! The bearer token of a request (RFC 6750 §2.1: the `Authorization` header, never the query
//! string, where it would reach logs), verified as every gate verifies tokens, and the checks
//! that come before anything touches a database: TLS for tokens from off the machine, a JSON
//! body.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, header};
use ward_gate::RefusalReason;
use ward_token::remote::Identity;

use crate::DataApi;
use crate::audit;
use crate::error::ApiError;

/// The verified caller of a request.
pub async fn authenticate(api: &DataApi, headers: &HeaderMap, peer: SocketAddr) -> Result<Arc<Identity>, ApiError> {
    let token = match bearer(headers) {
        Ok(token) => token,
        Err(e) => {
            audit::refused(api, peer, RefusalReason::Malformed);
            return Err(e);
        }
    };
    let secure = api.config.tls.is_some() || peer.ip().is_loopback() || api.config.allow_insecure_auth;
    if !secure {
        audit::refused(api, peer, RefusalReason::InsecurePassword);
        return Err(ApiError::Denied("a bearer token needs HTTPS (or a client on loopback)".into()));
    }
    api.verifier.verify(token).await.map_err(|e| {
        audit::refused(api, peer, (&e).into());
        ApiError::InvalidToken(format!("access token refused: {e}"))
    })
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive); exactly one
/// such header.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(if headers.contains_key(header::AUTHORIZATION) {
            ApiError::InvalidRequest("send one Authorization header".into())
        } else {
            ApiError::NoToken
        });
    };
    let value = value.to_str().map_err(|_| ApiError::InvalidToken("the Authorization header is not text".into()))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(ApiError::NoToken),
    }
}

/// Everything a request must pass before it runs: a JSON content type, a valid token, and a
/// body within `max_body_bytes` that parses as `T`.
pub async fn admit<T: serde::de::DeserializeOwned>(
    api: &DataApi,
    headers: &HeaderMap,
    peer: SocketAddr,
    body: axum::body::Body,
) -> Result<(Arc<Identity>, T), ApiError> {
    require_json(headers)?;
    let identity = authenticate(api, headers, peer).await?;
    let limit = api.config.max_body_bytes;
    let too_large = || ApiError::TooLarge(format!("the body is over {limit} bytes (max_body_bytes)"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| too_large())?;
    Ok((identity, parse_body(&body)?))
}

/// Requests carry JSON, declared so (`application/json`, any parameters).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let declared = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = declared.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") { Ok(()) } else { Err(ApiError::NotJson) }
}

/// A body within `max_body_bytes`, parsed as `T` (unknown members are an error: a misspelt
/// `parms` must not silently run a query without its parameters).
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::InvalidRequest(format!("the body is not a valid request: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::AUTHORIZATION, v.parse().unwrap());
        }
        headers
    }

    #[test]
    fn bearer_tokens_as_rfc_6750_sends_them() {
        assert_eq!(bearer(&with(&["Bearer abc.def"])).ok(), Some("abc.def"));
        assert_eq!(bearer(&with(&["bearer abc"])).ok(), Some("abc"));
        assert!(matches!(bearer(&with(&[])), Err(ApiError::NoToken)));
        assert!(matches!(bearer(&with(&["Basic dXNlcjpwdw=="])), Err(ApiError::NoToken)));
        assert!(matches!(bearer(&with(&["Bearer "])), Err(ApiError::NoToken)));
        assert!(matches!(bearer(&with(&["Bearer a", "Bearer b"])), Err(ApiError::InvalidRequest(_))));
    }

    #[test]
    fn json_is_declared() {
        let mut headers = HeaderMap::new();
        assert!(require_json(&headers).is_err());
        headers.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        assert!(require_json(&headers).is_ok());
        headers.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(require_json(&headers).is_err());
    }
}
