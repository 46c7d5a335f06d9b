//! Device authorization (RFC 8628): the endpoint devices call, and the pages where a person
//! enters a device's code and approves it.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use ward_oauth::client_auth::Presented;
use ward_oauth::device::UserCodeError;
use ward_store::BrowserSession;
use ward_token::secret::SecretHash;

use crate::error::{OAuthRejection, no_store_json};
use crate::extract::{Browser, OAuthForm};
use crate::handlers::pages::{forged_form, signed_in_or_redirect, unavailable, with_csrf_cookie};
use crate::state::AppState;
use crate::views::{self, DeviceConfirmPage, DeviceDonePage, DevicePage, ErrorPage};

/// `POST /oauth/device_authorization` (and `/oauth/device/code`).
pub async fn device_authorization(State(app): State<AppState>, form: OAuthForm) -> Result<Response, OAuthRejection> {
    let presented = Presented::from_request(form.authorization.as_deref(), &form.params)?;
    let client = app.oauth.authenticate_client(&presented, &app.endpoints.device_authorization).await?;
    let answer = app.oauth.device_authorization(&client, &form.params).await?;
    metrics::counter!("ward_device_authorizations_total").increment(1);
    Ok(no_store_json(&answer))
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    user_code: Option<String>,
}

/// `GET /device[?user_code=…]`: sign in first, then the code form, prefilled from
/// `verification_uri_complete`.
pub async fn device_page(State(app): State<AppState>, mut browser: Browser, Query(q): Query<DeviceQuery>) -> Response {
    let typed = q.user_code.unwrap_or_default();
    let return_to = if typed.is_empty() {
        "/device".to_owned()
    } else {
        format!("/device?{}", form_urlencoded::Serializer::new(String::new()).append_pair("user_code", &typed).finish())
    };
    let session = match signed_in_or_redirect(&app, &browser, &return_to).await {
        Ok(s) => s,
        Err(redirect) => return redirect,
    };
    let csrf = browser.csrf_token(&app);
    let page = DevicePage {
        csrf: &csrf,
        username: &session.username,
        user_code: typed.get(..32).unwrap_or(&typed),
        error: None,
    };
    with_csrf_cookie(&browser, &app, views::render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub struct CodeForm {
    csrf: Option<String>,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    decision: String,
}

/// `POST /device`: the typed code, looked up; the confirmation page, or the form again.
pub async fn device_lookup(
    State(app): State<AppState>,
    mut browser: Browser,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    if !browser.form_is_genuine(&app, form.csrf.as_deref()) {
        return forged_form();
    }
    let session = match signed_in_or_redirect(&app, &browser, "/device").await {
        Ok(s) => s,
        Err(redirect) => return redirect,
    };
    let session_key = browser.session.as_deref().map(|c| SecretHash::of(c).to_hex()).unwrap_or_default();
    let csrf = browser.csrf_token(&app);
    let again = |status, message: &str| {
        let typed = form.user_code.get(..32).unwrap_or(&form.user_code);
        views::render(
            status,
            &DevicePage { csrf: &csrf, username: &session.username, user_code: typed, error: Some(message) },
        )
    };
    match app.oauth.pending_device(&form.user_code, &session_key, browser.peer).await {
        Ok(device) => {
            let page = DeviceConfirmPage {
                csrf: &csrf,
                username: &session.username,
                user_code: &device.user_code,
                client_name: &device.client_name,
                client_id: &device.client_id,
                scopes: &device.scopes,
            };
            views::render(StatusCode::OK, &page)
        }
        Err(UserCodeError::Unknown) => {
            metrics::counter!("ward_device_codes_entered_total", "outcome" => "unknown").increment(1);
            again(StatusCode::BAD_REQUEST, "That code is not valid or has expired. Check it and try again.")
        }
        Err(UserCodeError::Throttled(wait)) => {
            metrics::counter!("ward_device_codes_entered_total", "outcome" => "throttled").increment(1);
            let mut response = again(
                StatusCode::TOO_MANY_REQUESTS,
                &format!("Too many wrong codes. Try again in {} seconds.", wait.as_secs().max(1)),
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Err(UserCodeError::Store(e)) => unavailable("device", e),
    }
}

/// `POST /device/decide`: approve or deny.
pub async fn device_decide(
    State(app): State<AppState>,
    browser: Browser,
    axum::Form(form): axum::Form<CodeForm>,
) -> Response {
    if !browser.form_is_genuine(&app, form.csrf.as_deref()) {
        return forged_form();
    }
    let session: BrowserSession = match signed_in_or_redirect(&app, &browser, "/device").await {
        Ok(s) => s,
        Err(redirect) => return redirect,
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => return ErrorPage::oauth(&ward_core::OAuthError::invalid_request("decision must be approve or deny")),
    };
    match app.oauth.decide_device(&form.user_code, approve, &session.username, session.auth_time).await {
        Ok(true) if approve => {
            metrics::counter!("ward_device_codes_entered_total", "outcome" => "approved").increment(1);
            let page = DeviceDonePage {
                title: "Device connected",
                message: "You can return to your device: it is signing in now.",
            };
            views::render(StatusCode::OK, &page)
        }
        Ok(true) => {
            metrics::counter!("ward_device_codes_entered_total", "outcome" => "denied").increment(1);
            let page = DeviceDonePage {
                title: "Request denied",
                message: "The device will not be signed in. You can close this page.",
            };
            views::render(StatusCode::OK, &page)
        }
        Ok(false) => views::render(
            StatusCode::BAD_REQUEST,
            &DeviceDonePage {
                title: "This code can no longer be used",
                message: "It has expired or has already been answered. Start again on your device.",
            },
        ),
        Err(e) => unavailable("device", e),
    }
}
