//! Ward's own pages: home, sign-in, sign-out, and the static assets they share.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_oauth::authorize::REAUTHENTICATED;
use ward_oauth::discovery::AUTHORIZE_PATH;
use ward_oauth::sign_in::SignInError;

use crate::extract::Browser;
use crate::state::AppState;
use crate::views::{self, ErrorPage, HomePage, SignInPage};

/// Where a sign-in may return to: Ward's own pages only, never another site.
fn safe_return_to(return_to: Option<&str>) -> &str {
    let ours = |path: &str| {
        path.starts_with(&format!("{AUTHORIZE_PATH}?"))
            || path == "/device"
            || path.starts_with("/device?")
            || path == "/account/sessions"
    };
    match return_to {
        Some(path) if ours(path) && !path.contains(['\r', '\n', '\\']) => path,
        _ => "/",
    }
}

/// The browser's session, or a redirect to the sign-in page that comes back to `return_to`.
pub async fn signed_in_or_redirect(
    app: &AppState,
    browser: &Browser,
    return_to: &str,
) -> Result<ward_store::BrowserSession, Response> {
    let session = match &browser.session {
        Some(cookie) => app.oauth.browser_session(cookie).await.ok().flatten(),
        None => None,
    };
    session.ok_or_else(|| {
        let query = form_urlencoded::Serializer::new(String::new()).append_pair("return_to", return_to).finish();
        Redirect::to(&format!("/sign-in?{query}")).into_response()
    })
}

/// Adds the CSRF cookie made while rendering, if any.
pub fn with_csrf_cookie(browser: &Browser, app: &AppState, mut response: Response) -> Response {
    if let Some(cookie) = browser.csrf_cookie(app) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn home(State(app): State<AppState>, mut browser: Browser) -> Response {
    let session = match &browser.session {
        Some(cookie) => app.oauth.browser_session(cookie).await.ok().flatten(),
        None => None,
    };
    let csrf = browser.csrf_token(&app);
    let page = HomePage { username: session.as_ref().map(|s| s.username.as_str()), csrf: &csrf };
    with_csrf_cookie(&browser, &app, views::render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct SignInQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
}

pub async fn sign_in_page(State(app): State<AppState>, mut browser: Browser, Query(q): Query<SignInQuery>) -> Response {
    let csrf = browser.csrf_token(&app);
    let page = SignInPage {
        csrf: &csrf,
        return_to: safe_return_to(q.return_to.as_deref()),
        username: q.login_hint.as_deref().unwrap_or_default(),
        client_name: None,
        error: None,
    };
    with_csrf_cookie(&browser, &app, views::render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct SignInForm {
    csrf: Option<String>,
    return_to: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub async fn sign_in(State(app): State<AppState>, mut browser: Browser, Form(form): Form<SignInForm>) -> Response {
    let return_to = safe_return_to(form.return_to.as_deref()).to_owned();
    if !browser.form_is_genuine(&app, form.csrf.as_deref()) {
        return forged_form();
    }
    let failed = |browser: &mut Browser, status: StatusCode, message: &str| {
        let csrf = browser.csrf_token(&app);
        let page = SignInPage {
            csrf: &csrf,
            return_to: &return_to,
            username: form.username.get(..64).unwrap_or(&form.username),
            client_name: None,
            error: Some(message),
        };
        views::render(status, &page)
    };
    match app.oauth.sign_in(&form.username, &form.password, browser.peer).await {
        Ok(session) => {
            // The old session, if any, ends: one browser, one current session.
            if let Some(old) = &browser.session {
                let _ = app.oauth.sign_out(old).await;
            }
            metrics::counter!("ward_sign_ins_total", "outcome" => "success").increment(1);
            let target = if return_to.starts_with(AUTHORIZE_PATH) {
                format!("{return_to}&{REAUTHENTICATED}=1")
            } else {
                return_to.clone()
            };
            let mut response = Redirect::to(&target).into_response();
            response.headers_mut().append(header::SET_COOKIE, app.cookies.set_session(&session.cookie));
            response
        }
        Err(SignInError::Rejected) => {
            metrics::counter!("ward_sign_ins_total", "outcome" => "rejected").increment(1);
            failed(&mut browser, StatusCode::UNAUTHORIZED, "The username or password is incorrect.")
        }
        Err(SignInError::Throttled(wait)) => {
            metrics::counter!("ward_sign_ins_total", "outcome" => "throttled").increment(1);
            let message = format!("Too many failed attempts. Try again in {} seconds.", wait.as_secs().max(1));
            let mut response = failed(&mut browser, StatusCode::TOO_MANY_REQUESTS, &message);
            if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "sign-in failed");
            views::render(
                StatusCode::SERVICE_UNAVAILABLE,
                &ErrorPage {
                    title: "Sign-in is unavailable",
                    message: "Ward could not check the password. Try again shortly.".into(),
                    code: None,
                },
            )
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

pub async fn sign_out(State(app): State<AppState>, browser: Browser, Form(form): Form<CsrfOnly>) -> Response {
    if !browser.form_is_genuine(&app, form.csrf.as_deref()) {
        return forged_form();
    }
    if let Some(cookie) = &browser.session
        && let Err(e) = app.oauth.sign_out(cookie).await
    {
        tracing::error!(error = %e, "signing out");
    }
    let mut response = views::render(StatusCode::OK, &views::SignedOutPage);
    response.headers_mut().append(header::SET_COOKIE, app.cookies.clear_session());
    response
}

/// A form without a valid CSRF token, or posted from another site.
pub fn forged_form() -> Response {
    metrics::counter!("ward_forged_forms_total").increment(1);
    views::render(
        StatusCode::FORBIDDEN,
        &ErrorPage {
            title: "This form has expired",
            message:
                "The form was not sent from this Ward page, or it is too old. Go back, reload the page and try again."
                    .into(),
            code: None,
        },
    )
}

/// A page the store could not serve: the cause is logged (with `page` naming where), the
/// person sees a generic 503.
pub fn unavailable(page: &'static str, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, page, "a page could not be served");
    views::render(
        StatusCode::SERVICE_UNAVAILABLE,
        &ErrorPage {
            title: "Unavailable",
            message: "Ward could not complete this. Try again shortly.".into(),
            code: None,
        },
    )
}

pub async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", views::STYLESHEET)
}

pub async fn form_post_script() -> Response {
    asset("text/javascript; charset=utf-8", views::FORM_POST_SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}
