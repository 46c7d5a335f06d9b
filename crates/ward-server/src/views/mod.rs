//! Server-rendered pages: askama templates compiled into the binary (HTML-escaped), sent with
//! headers that keep them out of frames, caches and other sites' Referer.

use askama::Template;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ward_core::OAuthError;
use ward_store::ScopeRecord;

/// No inline script anywhere; scripts and styles from Ward itself only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// The headers every page carries.
pub fn page_headers() -> [(HeaderName, HeaderValue); 6] {
    [
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY)),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
    ]
}

/// A rendered page with its status.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, page_headers(), html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page");
            (StatusCode::INTERNAL_SERVER_ERROR, page_headers(), "Ward could not render this page.").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage<'a> {
    pub csrf: &'a str,
    pub return_to: &'a str,
    pub username: &'a str,
    pub client_name: Option<&'a str>,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub csrf: &'a str,
    pub request: &'a str,
    pub username: &'a str,
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [ScopeRecord],
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub title: &'a str,
    pub message: String,
    pub code: Option<&'a str>,
}

impl ErrorPage<'_> {
    /// An OAuth error that cannot be sent back to the client, shown to the person instead.
    pub fn oauth(error: &OAuthError) -> Response {
        let status = StatusCode::from_u16(error.error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let message = error.error_description.map_or_else(|| "The request is not valid.".to_owned(), |d| d.to_string());
        render(status, &ErrorPage { title: "This request cannot continue", message, code: Some(error.error.as_str()) })
    }
}

#[derive(Template)]
#[template(path = "form_post.html")]
pub struct FormPostPage<'a> {
    pub action: &'a str,
    pub fields: &'a [(&'static str, String)],
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage<'a> {
    pub username: Option<&'a str>,
    pub csrf: &'a str,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub csrf: &'a str,
    pub client_name: Option<&'a str>,
    pub fields: &'a [(String, String)],
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage;

/// The stylesheet and the one script, compiled in.
pub const STYLESHEET: &str = include_str!("../../assets/ward.css");
pub const FORM_POST_SCRIPT: &str = include_str!("../../assets/form-post.js");

#[derive(Template)]
#[template(path = "device.html")]
pub struct DevicePage<'a> {
    pub csrf: &'a str,
    pub username: &'a str,
    pub user_code: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_confirm.html")]
pub struct DeviceConfirmPage<'a> {
    pub csrf: &'a str,
    pub username: &'a str,
    pub user_code: &'a str,
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [ScopeRecord],
}

#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDonePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
}

/// One grant on the sessions page, its times already formatted.
pub struct SessionRow {
    pub id: String,
    pub client_name: String,
    pub client_id: String,
    pub scopes: String,
    pub state: &'static str,
    pub created: String,
    pub last_used: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "sessions.html")]
pub struct SessionsPage<'a> {
    pub csrf: &'a str,
    pub username: &'a str,
    pub sessions: &'a [SessionRow],
}
