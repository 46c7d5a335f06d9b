//! Redirect URIs as clients register them (RFC 6749 §3.1.2): absolute, no fragment; https, or
//! plain http only to a loopback host (RFC 8252 §7.3), or a private-use scheme for native apps
//! (RFC 8252 §7.1) — never a scheme that runs or embeds content (`javascript:`, `data:`, …).
//! Matching is exact string comparison, as OAuth 2.1 requires, so the URI is kept verbatim.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const MAX_REDIRECT_URI_LEN: usize = 2048;

/// Schemes a browser would execute or render in place rather than hand to an app.
const DANGEROUS_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about", "filesystem"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid redirect URI {uri:?}: {reason}")]
pub struct InvalidRedirectUri {
    pub uri: String,
    pub reason: &'static str,
}

impl RedirectUri {
    pub fn parse(uri: &str) -> Result<Self, InvalidRedirectUri> {
        let fail = |reason| Err(InvalidRedirectUri { uri: uri.to_owned(), reason });
        if uri.len() > MAX_REDIRECT_URI_LEN {
            return fail("longer than 2048 characters");
        }
        if uri.contains('#') {
            return fail("a redirect URI must not contain a fragment");
        }
        if uri.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return fail("contains whitespace or control characters");
        }
        let Some((scheme, rest)) = uri.split_once(':') else {
            return fail("not an absolute URI");
        };
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if !scheme_ok || rest.is_empty() {
            return fail("not an absolute URI");
        }
        let lower = scheme.to_ascii_lowercase();
        if DANGEROUS_SCHEMES.contains(&lower.as_str()) {
            return fail("this scheme runs or embeds content in the browser");
        }
        if (lower == "http" || lower == "https")
            && (!rest.starts_with("//") || crate::loopback::url_host(uri).is_none())
        {
            return fail("an http(s) redirect URI needs a host");
        }
        if lower == "http" && !crate::loopback::is_loopback_http(uri) {
            return fail("plain http is only for loopback (127.0.0.1, [::1], localhost); use https");
        }
        Ok(Self(uri.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = InvalidRedirectUri;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RedirectUri> for String {
    fn from(uri: RedirectUri) -> Self {
        uri.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_web_loopback_and_private_schemes() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:8765/callback",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert_eq!(RedirectUri::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_fragments_relative_and_junk() {
        for bad in ["https://a/cb#frag", "/cb", "cb", "https:cb", "http://a/ b", "1http://a", "", "https:///cb"] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_remote_plain_http_and_dangerous_schemes() {
        for bad in [
            "http://app.example/cb",
            "http://localhost.evil.example/cb",
            "http://127.0.0.1@evil.example/cb",
            "HTTP://app.example/cb",
            "javascript:alert(1)",
            "JavaScript://%0aalert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "file:///etc/passwd",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }
}
