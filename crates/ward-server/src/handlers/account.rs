//! `/account/sessions`: every grant of the signed-in person, and revoking them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use ward_core::clock::format_utc;

use crate::extract::Browser;
use crate::handlers::pages::{forged_form, signed_in_or_redirect, unavailable, with_csrf_cookie};
use crate::state::AppState;
use crate::views::{self, ErrorPage, SessionRow, SessionsPage};

const SESSIONS: &str = "/account/sessions";

pub async fn sessions(State(app): State<AppState>, mut browser: Browser) -> Response {
    let session = match signed_in_or_redirect(&app, &browser, SESSIONS).await {
        Ok(s) => s,
        Err(redirect) => return redirect,
    };
    let grants = match app.oauth.sessions_of(&session.username).await {
        Ok(g) => g,
        Err(e) => return unavailable("sessions", e),
    };
    let rows: Vec<SessionRow> = grants
        .into_iter()
        .map(|s| SessionRow {
            client_name: s.client_name,
            client_id: s.grant.client_id,
            scopes: s.grant.scopes.to_string(),
            state: s.state,
            created: format_utc(s.grant.created_at),
            last_used: format_utc(s.grant.last_used_at),
            expires: format_utc(s.grant.expires_at),
            id: s.grant.grant_id,
        })
        .collect();
    let csrf = browser.csrf_token(&app);
    let page = SessionsPage { csrf: &csrf, username: &session.username, sessions: &rows };
    with_csrf_cookie(&browser, &app, views::render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct RevokeForm {
    csrf: Option<String>,
    #[serde(default)]
    grant_id: String,
}

/// `POST /account/sessions/revoke`: one of the person's own grants. Anyone else's is "not
/// found", and changes nothing.
pub async fn revoke(
    State(app): State<AppState>,
    browser: Browser,
    axum::Form(form): axum::Form<RevokeForm>,
) -> Response {
    if !browser.form_is_genuine(&app, form.csrf.as_deref()) {
        return forged_form();
    }
    let session = match signed_in_or_redirect(&app, &browser, SESSIONS).await {
        Ok(s) => s,
        Err(redirect) => return redirect,
    };
    match app.oauth.revoke_own_grant(&session.username, &form.grant_id).await {
        Ok(true) => Redirect::to(SESSIONS).into_response(),
        Ok(false) => views::render(
            StatusCode::NOT_FOUND,
            &ErrorPage { title: "No such session", message: "You have no session with that id.".into(), code: None },
        ),
        Err(e) => unavailable("sessions", e),
    }
}

/// `POST /account/sessions/revoke-all`.
pub async fn revoke_all(
    State(app): State<AppState>,
    browser: Browser,
    axum::Form(form): axum::Form<RevokeForm>,
) -> Response {
    if !browser.form_is_genuine(&app, form.csrf.as_deref()) {
        return forged_form();
    }
    let session = match signed_in_or_redirect(&app, &browser, SESSIONS).await {
        Ok(s) => s,
        Err(redirect) => return redirect,
    };
    match app.oauth.revoke_all_grants(&session.username).await {
        Ok(n) => {
            tracing::info!(user = %session.username, grants = n, "revoked every grant of a user");
            Redirect::to(SESSIONS).into_response()
        }
        Err(e) => unavailable("sessions", e),
    }
}
