//! OAuth errors as the RFCs name them. The transport maps them to HTTP; descriptions are
//! written for the client developer and never carry internal detail.

use std::fmt;

use serde::{Serialize, Serializer};

/// Error codes from RFC 6749 §5.2, RFC 7009 §2.2.1 and RFC 6750 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    UnsupportedTokenType,
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks a scope the resource needs.
    InsufficientScope,
    /// RFC 6749 §4.1.2.1: the resource owner or server said no.
    AccessDenied,
    UnsupportedResponseType,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` could not be honoured.
    LoginRequired,
    ConsentRequired,
    /// RFC 9126 §2.2 / RFC 9101: a `request_uri` that is unknown, expired or used.
    InvalidRequestUri,
    /// RFC 8628 §3.5: the person has not decided yet; poll again after the interval.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; the interval grew by 5 s.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired.
    ExpiredToken,
    /// RFC 6749 §4.1.2.1; used for failures of our own making (the store is down).
    ServerError,
    TemporarilyUnavailable,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }

    /// The HTTP status RFC 6749 §5.2 prescribes (401 for `invalid_client`).
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// An OAuth error response body (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<Description>,
}

/// An `error_description`: made of string literals only, so that it can never carry what a
/// client sent, and written in the characters RFC 6749 §5.2 allows (%x20-21 / %x23-5B /
/// %x5D-7E: printable ASCII without `"` and `\`), which a test holds every description to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Description {
    text: &'static str,
    /// A name of ours the text is about (a parameter, a grant type), appended after a space.
    naming: Option<&'static str>,
}

impl Description {
    pub const fn new(text: &'static str) -> Self {
        Self { text, naming: None }
    }

    pub const fn naming(text: &'static str, name: &'static str) -> Self {
        Self { text, naming: Some(name) }
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)?;
        if let Some(name) = self.naming {
            write!(f, " {name}")?;
        }
        Ok(())
    }
}

impl Serialize for Description {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Whether `text` uses only the characters RFC 6749 §5.2 allows in `error_description`.
pub fn is_error_description_text(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl From<&'static str> for Description {
    fn from(text: &'static str) -> Self {
        Self::new(text)
    }
}

impl OAuthError {
    pub fn new(error: OAuthErrorCode, description: impl Into<Description>) -> Self {
        Self { error, error_description: Some(description.into()) }
    }

    pub fn invalid_request(d: impl Into<Description>) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, d)
    }

    /// Client authentication failed. One description for every cause, so that a caller
    /// cannot tell an unknown client from a wrong secret.
    pub fn invalid_client() -> Self {
        Self::new(OAuthErrorCode::InvalidClient, "client authentication failed")
    }

    pub fn invalid_grant(d: impl Into<Description>) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, d)
    }

    pub fn unauthorized_client(d: impl Into<Description>) -> Self {
        Self::new(OAuthErrorCode::UnauthorizedClient, d)
    }

    pub fn unsupported_grant_type(d: impl Into<Description>) -> Self {
        Self::new(OAuthErrorCode::UnsupportedGrantType, d)
    }

    pub fn invalid_scope(d: impl Into<Description>) -> Self {
        Self::new(OAuthErrorCode::InvalidScope, d)
    }

    /// Something failed on our side. The cause is logged by the caller; the client sees none of it.
    pub fn invalid_token(d: impl Into<Description>) -> Self {
        Self::new(OAuthErrorCode::InvalidToken, d)
    }

    pub fn access_denied(d: impl Into<Description>) -> Self {
        Self::new(OAuthErrorCode::AccessDenied, d)
    }

    pub fn server_error() -> Self {
        Self::new(OAuthErrorCode::ServerError, "the authorization server could not complete the request")
    }

    pub fn temporarily_unavailable() -> Self {
        Self::new(OAuthErrorCode::TemporarilyUnavailable, "the authorization server is temporarily unavailable")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.error.as_str())?;
        if let Some(d) = &self.error_description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_rfc6749_body() {
        let error = OAuthError::invalid_request(Description::naming("missing parameter", "grant_type"));
        let body = serde_json::to_string(&error).unwrap();
        assert_eq!(body, r#"{"error":"invalid_request","error_description":"missing parameter grant_type"}"#);
        assert_eq!(OAuthErrorCode::InvalidClient.http_status(), 401);
        assert_eq!(OAuthErrorCode::UnsupportedGrantType.http_status(), 400);
    }

    #[test]
    fn the_rfc_character_set() {
        assert!(is_error_description_text("client authentication failed: a-z A-Z 0-9 !#$%&'()*+,-./:;<=>?@[]^_`{|}~"));
        for bad in ["\"", "\\", "\u{fffd}", "é", "\n", "\t", "\u{7f}"] {
            assert!(!is_error_description_text(bad), "{bad:?}");
        }
    }
}
