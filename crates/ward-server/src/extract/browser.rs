//! What a browser brings: Ward's cookies, its address, and where a form came from.
//!
//! Two cookies, both HttpOnly and SameSite=Lax, and over https `Secure` with the `__Host-`
//! prefix (so no subdomain can set them): the session (a 256-bit value whose hash names a
//! server-side row, replaced at every sign-in) and a CSRF secret. Forms carry a token derived
//! from the CSRF secret (double submit: a page on another origin can neither read the cookie
//! nor the token), and POSTs from another `Origin` are refused outright.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ward_token::secret::{SecretHash, equal};

use crate::state::AppState;

/// Cookie names and attributes, fixed by the issuer URL's scheme.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    pub secure: bool,
    pub session: &'static str,
    pub csrf: &'static str,
    /// `scheme://host[:port]` of the issuer: the only origin forms may be posted from.
    pub origin: String,
    pub session_ttl: Duration,
}

impl CookiePolicy {
    pub fn for_issuer(issuer: &str, session_ttl: Duration) -> Self {
        let secure = issuer.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let (session, csrf) =
            if secure { ("__Host-ward_session", "__Host-ward_csrf") } else { ("ward_session", "ward_csrf") };
        let origin = match issuer.split_once("://") {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()),
            None => issuer.to_owned(),
        };
        Self { secure, session, csrf, origin, session_ttl }
    }

    fn cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> HeaderValue {
        let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age {
            text.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            text.push_str("; Secure");
        }
        // Values are base64url: always a valid header.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("ward_invalid=; Max-Age=0"))
    }

    pub fn set_session(&self, value: &str) -> HeaderValue {
        self.cookie(self.session, value, Some(self.session_ttl.as_secs()))
    }

    pub fn clear_session(&self) -> HeaderValue {
        self.cookie(self.session, "", Some(0))
    }

    pub fn set_csrf(&self, value: &str) -> HeaderValue {
        self.cookie(self.csrf, value, None)
    }
}

pub struct Browser {
    pub session: Option<String>,
    csrf_secret: Option<String>,
    /// A CSRF secret made for this response, to be set as a cookie.
    new_csrf_secret: Option<String>,
    origin: Option<String>,
    pub peer: IpAddr,
}

impl Browser {
    /// The token forms carry; makes the CSRF secret first if the browser has none.
    pub fn csrf_token(&mut self, app: &AppState) -> String {
        let secret = match (&self.csrf_secret, &self.new_csrf_secret) {
            (Some(s), _) | (None, Some(s)) => s.clone(),
            (None, None) => {
                let s = ward_token::secret::generate(app.oauth.entropy());
                self.new_csrf_secret = Some(s.clone());
                s
            }
        };
        derive_token(&secret)
    }

    /// The `Set-Cookie` for a CSRF secret made while rendering, if any.
    pub fn csrf_cookie(&self, app: &AppState) -> Option<HeaderValue> {
        self.new_csrf_secret.as_deref().map(|s| app.cookies.set_csrf(s))
    }

    /// Whether a form POST is genuine: the token matches this browser's secret, and the
    /// `Origin`, when the browser names one, is Ward's. Pages are sent with
    /// `Referrer-Policy: no-referrer`, under which browsers send `Origin: null` for their own
    /// form posts, so `null` names no origin; the token is what decides.
    pub fn form_is_genuine(&self, app: &AppState, token: Option<&str>) -> bool {
        let same_origin = self.origin.as_deref().is_none_or(|o| o == "null" || o == app.cookies.origin);
        let token_ok = match (&self.csrf_secret, token) {
            (Some(secret), Some(token)) => equal(&derive_token(secret), token),
            _ => false,
        };
        same_origin && token_ok
    }
}

fn derive_token(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(SecretHash::of(&format!("ward-csrf:{secret}")).0)
}

/// The value of cookie `name` in a `Cookie` header.
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').map(str::trim).find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n == name && !v.is_empty() && v.len() <= 128).then_some(v)
    })
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let cookies: Vec<&str> = parts.headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();
        let find = |name: &str| cookies.iter().find_map(|h| cookie_value(h, name)).map(str::to_owned);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip());
        Ok(Self {
            session: find(app.cookies.session),
            csrf_secret: find(app.cookies.csrf),
            new_csrf_secret: None,
            origin: parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned),
            peer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_host_only_and_secure_over_https() {
        let https = CookiePolicy::for_issuer("https://id.example.com/base", Duration::from_secs(60));
        assert_eq!(https.origin, "https://id.example.com");
        let set = https.set_session("abc");
        assert_eq!(
            set.to_str().unwrap(),
            "__Host-ward_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        let http = CookiePolicy::for_issuer("http://localhost:8080", Duration::from_secs(60));
        assert_eq!(http.origin, "http://localhost:8080");
        assert_eq!(http.set_csrf("x").to_str().unwrap(), "ward_csrf=x; Path=/; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn finds_cookies_by_exact_name() {
        let h = "a=1; ward_session=s3cret; xward_csrf=no; ward_csrf=c";
        assert_eq!(cookie_value(h, "ward_session"), Some("s3cret"));
        assert_eq!(cookie_value(h, "ward_csrf"), Some("c"));
        assert_eq!(cookie_value(h, "missing"), None);
        assert_eq!(cookie_value("ward_session=", "ward_session"), None);
    }
}
