//! The authorization endpoint in the browser: `GET`/`POST /oauth/authorize`, and the consent
//! form it may show.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ward_oauth::FormParams;
use ward_oauth::authorize::{AuthorizeError, Consent, Next, REAUTHENTICATED, Reply, ResponseMode};
use ward_oauth::discovery::AUTHORIZE_PATH;

use crate::extract::Browser;
use crate::handlers::pages::forged_form;
use crate::state::AppState;
use crate::views::{self, ConsentPage, ErrorPage, FormPostPage};

pub async fn authorize_get(State(app): State<AppState>, browser: Browser, RawQuery(query): RawQuery) -> Response {
    authorize(app, browser, query.unwrap_or_default().as_bytes()).await
}

/// OpenID Connect Core §3.1.2.1: the request may also come as a form POST.
pub async fn authorize_post(State(app): State<AppState>, browser: Browser, body: axum::body::Bytes) -> Response {
    authorize(app, browser, &body).await
}

async fn authorize(app: AppState, mut browser: Browser, raw: &[u8]) -> Response {
    let params = match FormParams::parse(raw) {
        Ok(p) => p,
        Err(e) => return ErrorPage::oauth(&e),
    };
    let request = match app.oauth.authorization_request(&params).await {
        Ok(r) => r,
        Err(e) => return rejection(e),
    };
    let session = match &browser.session {
        Some(cookie) => match app.oauth.browser_session(cookie).await {
            Ok(s) => s,
            Err(e) => return rejection(AuthorizeError::Page(internal(e))),
        },
        None => None,
    };
    let reauthenticated = params.get(REAUTHENTICATED).is_some();
    let next = app.oauth.authorize(&request, session.as_ref(), reauthenticated, Consent::NotAsked).await;
    // What the browser comes back with: the request as sent, without our own marker.
    let again = params.without(&[REAUTHENTICATED]).encode();
    match next {
        Ok(Next::SignIn { login_hint }) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("return_to", &format!("{AUTHORIZE_PATH}?{again}"));
            if let Some(hint) = &login_hint {
                query.append_pair("login_hint", hint);
            }
            Redirect::to(&format!("/sign-in?{}", query.finish())).into_response()
        }
        Ok(Next::Consent { client, scopes }) => {
            let csrf = browser.csrf_token(&app);
            let username = session.as_ref().map(|s| s.username.as_str()).unwrap_or_default();
            let page = ConsentPage {
                csrf: &csrf,
                request: &again,
                username,
                client_name: &client.name,
                client_id: &client.client_id,
                scopes: &scopes,
            };
            let mut response = views::render(StatusCode::OK, &page);
            if let Some(cookie) = browser.csrf_cookie(&app) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(Next::Reply(reply)) => reply_to_client(&reply),
        Err(e) => rejection(e),
    }
}

#[derive(serde::Deserialize)]
pub struct ConsentForm {
    csrf: Option<String>,
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// `POST /oauth/consent`: the person's answer on the consent page.
pub async fn consent(
    State(app): State<AppState>,
    browser: Browser,
    axum::Form(form): axum::Form<ConsentForm>,
) -> Response {
    if !browser.form_is_genuine(&app, form.csrf.as_deref()) {
        return forged_form();
    }
    let decision = match form.decision.as_str() {
        "approve" => Consent::Approved,
        "deny" => Consent::Denied,
        _ => return ErrorPage::oauth(&ward_core::OAuthError::invalid_request("decision must be approve or deny")),
    };
    let params = match FormParams::parse(form.request.as_bytes()) {
        Ok(p) => p,
        Err(e) => return ErrorPage::oauth(&e),
    };
    let request = match app.oauth.authorization_request(&params).await {
        Ok(r) => r,
        Err(e) => return rejection(e),
    };
    let session = match &browser.session {
        Some(cookie) => app.oauth.browser_session(cookie).await.ok().flatten(),
        None => None,
    };
    // The session may have ended while the page was open: sign in again, then ask again.
    let Some(session) = session else {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("return_to", &format!("{AUTHORIZE_PATH}?{}", form.request))
            .finish();
        return Redirect::to(&format!("/sign-in?{query}")).into_response();
    };
    match app.oauth.authorize(&request, Some(&session), true, decision).await {
        Ok(Next::Reply(reply)) => reply_to_client(&reply),
        Ok(_) => rejection(AuthorizeError::Page(ward_core::OAuthError::invalid_request(
            "the authorization request changed; start again from the application",
        ))),
        Err(e) => rejection(e),
    }
}

fn internal(e: impl std::fmt::Display) -> ward_core::OAuthError {
    tracing::error!(error = %e, "authorization request");
    ward_core::OAuthError::server_error()
}

fn rejection(e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page(error) => ErrorPage::oauth(&error),
        AuthorizeError::Redirect { reply, error } => {
            metrics::counter!("ward_oauth_errors_total", "error" => error.error.as_str()).increment(1);
            reply_to_client(&reply)
        }
    }
}

/// Sends a response to the client through the browser: a redirect, or for `form_post` a page
/// whose form the browser posts to the client.
fn reply_to_client(reply: &Reply) -> Response {
    match reply.response_mode {
        ResponseMode::Query => {
            let mut response = Redirect::to(&reply.location()).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            response
        }
        ResponseMode::FormPost => {
            views::render(StatusCode::OK, &FormPostPage { action: &reply.redirect_uri, fields: &reply.params })
        }
    }
}
