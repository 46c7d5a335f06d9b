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

    /// Whether an authorization request's `redirect_uri` is this registered one: the same
    /// string, except that a registered loopback IP URI (`http://127.0.0.1/…`,
    /// `http://[::1]/…`) accepts any port, since native apps listen on whatever port is free
    /// (RFC 8252 §7.3). `localhost` gets no such leeway: it can resolve elsewhere (§8.3).
    pub fn matches(&self, requested: &str) -> bool {
        if self.0 == requested {
            return true;
        }
        match (loopback_without_port(&self.0), loopback_without_port(requested)) {
            (Some(registered), Some(requested)) => registered == requested,
            _ => false,
        }
    }
}

/// `http://127.0.0.1:PORT/rest` → `("127.0.0.1", "/rest")` (and the same for `[::1]`), `None`
/// for anything else. The port must be digits.
fn loopback_without_port(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("http://")?;
    let (host, after) = if let Some(v6) = rest.strip_prefix("[::1]") {
        ("[::1]", v6)
    } else {
        ("127.0.0.1", rest.strip_prefix("127.0.0.1")?)
    };
    let path_start = after.find(['/', '?']).unwrap_or(after.len());
    let (port, path) = after.split_at(path_start);
    match port.strip_prefix(':') {
        Some(digits) if !digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()) => {}
        None if port.is_empty() => {}
        _ => return None,
    }
    Some((host, path))
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
    fn loopback_ip_uris_match_any_port_and_nothing_else_does() {
        let v4 = RedirectUri::parse("http://127.0.0.1/callback").unwrap();
        assert!(v4.matches("http://127.0.0.1/callback"));
        assert!(v4.matches("http://127.0.0.1:53124/callback"));
        for no in [
            "http://127.0.0.1:53124/callback/x",
            "http://127.0.0.1:53124/callbac",
            "http://127.0.0.1:53124/callback?x=1",
            "http://127.0.0.1:abc/callback",
            "http://127.0.0.1:/callback",
            "http://127.0.0.1.evil.example/callback",
            "http://127.0.0.1@evil.example/callback",
            "https://127.0.0.1:8443/callback",
            "http://[::1]:9/callback",
            "http://localhost:9/callback",
        ] {
            assert!(!v4.matches(no), "{no}");
        }
        let v6 = RedirectUri::parse("http://[::1]:8080/cb").unwrap();
        assert!(v6.matches("http://[::1]:1/cb") && v6.matches("http://[::1]/cb"));
        let web = RedirectUri::parse("https://app.example/cb").unwrap();
        assert!(web.matches("https://app.example/cb"));
        for no in [
            "https://app.example:443/cb",
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x",
        ] {
            assert!(!web.matches(no), "exact match only: {no}");
        }
        let localhost = RedirectUri::parse("http://localhost/cb").unwrap();
        assert!(!localhost.matches("http://localhost:8080/cb"));
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
