//! OpenID Connect endpoints: UserInfo (bearer), RP-initiated logout (browser), and PAR
//! (client-authenticated back channel).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ward_oauth::FormParams;
use ward_oauth::client_auth::Presented;

use crate::error::{BearerRejection, OAuthRejection, no_store_json};
use crate::extract::{Browser, OAuthForm};
use crate::handlers::pages::forged_form;
use crate::state::AppState;
use crate::views::{self, ErrorPage, LogoutPage, SignedOutPage};

/// The bearer token of `Authorization: Bearer` (RFC 6750 §2.1).
fn bearer(headers: &HeaderMap) -> Result<Option<String>, BearerRejection> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(ward_core::OAuthError::invalid_request("more than one Authorization header").into()),
        (Some(value), None) => match value.to_str().unwrap_or_default().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Ok(Some(token.trim().to_owned()))
            }
            _ => Err(BearerRejection::missing()),
        },
    }
}

/// `GET`/`POST /oauth/userinfo` with `Authorization: Bearer`.
pub async fn userinfo(State(app): State<AppState>, headers: HeaderMap) -> Result<Response, BearerRejection> {
    let token = bearer(&headers)?.ok_or_else(BearerRejection::missing)?;
    let claims = app.oauth.userinfo(&token).await?;
    Ok(no_store_json(&claims))
}

#[derive(serde::Deserialize)]
pub struct TokenQuery {
    access_token: Option<String>,
}

/// `GET /oauth/tokeninfo`: the token in the `Authorization` header, or `?access_token=` for
/// tools that can only do that (RFC 6750 §2.3; the header is better: URLs end up in logs).
pub async fn tokeninfo(
    State(app): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<TokenQuery>,
) -> Result<Response, BearerRejection> {
    let token = match (bearer(&headers)?, q.access_token.filter(|t| !t.is_empty())) {
        (Some(_), Some(_)) => {
            return Err(ward_core::OAuthError::invalid_request("send the token once: header or query").into());
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return Err(BearerRejection::missing()),
    };
    let claims = app.oauth.tokeninfo(&token).await?;
    Ok(no_store_json(&claims))
}

/// `POST /oauth/par` (RFC 9126 §2): 201 with a `request_uri`.
pub async fn par(State(app): State<AppState>, form: OAuthForm) -> Result<Response, OAuthRejection> {
    let presented = Presented::from_request(form.authorization.as_deref(), &form.params)?;
    let client = app.oauth.authenticate_client(&presented, &app.endpoints.par).await?;
    let pushed = app.oauth.push_authorization_request(&client, &form.params).await?;
    let mut response = no_store_json(&pushed);
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `GET /oauth/logout`: asks the person to confirm, so that no other site can sign them out
/// with a link.
pub async fn logout_page(State(app): State<AppState>, mut browser: Browser, RawQuery(query): RawQuery) -> Response {
    let params = match FormParams::parse(query.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return ErrorPage::oauth(&e),
    };
    let request = match app.oauth.logout_request(&params).await {
        Ok(r) => r,
        Err(e) => return ErrorPage::oauth(&e),
    };
    let fields: Vec<(String, String)> = ["id_token_hint", "client_id", "post_logout_redirect_uri", "state"]
        .iter()
        .filter_map(|name| params.get(name).map(|v| ((*name).to_owned(), v.to_owned())))
        .collect();
    let csrf = browser.csrf_token(&app);
    let page = LogoutPage { csrf: &csrf, client_name: request.client_name.as_deref(), fields: &fields };
    let mut response = views::render(StatusCode::OK, &page);
    if let Some(cookie) = browser.csrf_cookie(&app) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `POST /oauth/logout`: the confirmed sign-out.
pub async fn logout(State(app): State<AppState>, browser: Browser, body: axum::body::Bytes) -> Response {
    let params = match FormParams::parse(&body) {
        Ok(p) => p,
        Err(e) => return ErrorPage::oauth(&e),
    };
    if !browser.form_is_genuine(&app, params.get("csrf")) {
        return forged_form();
    }
    let request = match app.oauth.logout_request(&params).await {
        Ok(r) => r,
        Err(e) => return ErrorPage::oauth(&e),
    };
    if let Err(e) = app.oauth.end_session(&request, browser.session.as_deref()).await {
        return ErrorPage::oauth(&e);
    }
    let mut response = match &request.redirect {
        Some(target) => Redirect::to(target).into_response(),
        None => views::render(StatusCode::OK, &SignedOutPage),
    };
    response.headers_mut().append(header::SET_COOKIE, app.cookies.clear_session());
    response
}
