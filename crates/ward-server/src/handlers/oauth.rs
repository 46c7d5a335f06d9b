//! The token, introspection and revocation endpoints.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ward_oauth::client_auth::{AuthenticatedClient, Presented};
use ward_oauth::revoke::Revoked;

use crate::error::{OAuthRejection, no_store_json};
use crate::extract::OAuthForm;
use crate::state::AppState;

/// `POST /oauth/token` (RFC 6749 §3.2).
pub async fn token(State(app): State<AppState>, form: OAuthForm) -> Result<Response, OAuthRejection> {
    let presented = Presented::from_request(form.authorization.as_deref(), &form.params)?;
    let issued = app.oauth.token(&presented, &form.params).await?;
    metrics::counter!("ward_tokens_issued_total", "grant_type" => issued.grant_type.as_str()).increment(1);
    tracing::debug!(client_id = %issued.client_id, jti = %issued.jti, grant_type = %issued.grant_type, "issued access token");
    Ok(no_store_json(&issued.response))
}

/// `POST /oauth/introspect` (RFC 7662).
pub async fn introspect(State(app): State<AppState>, form: OAuthForm) -> Result<Response, OAuthRejection> {
    let caller = authenticate(&app, &form, &app.endpoints.introspect).await?;
    let answer = app.oauth.introspect(&caller, &form.params).await?;
    Ok(no_store_json(&answer))
}

/// `POST /oauth/revoke` (RFC 7009). 200 with an empty body, also for unknown tokens.
pub async fn revoke(State(app): State<AppState>, form: OAuthForm) -> Result<Response, OAuthRejection> {
    let caller = authenticate(&app, &form, &app.endpoints.revoke).await?;
    match app.oauth.revoke(&caller, &form.params).await? {
        Revoked::AccessToken { jti } => {
            tracing::info!(client_id = caller.id(), %jti, "revoked access token");
            metrics::counter!("ward_tokens_revoked_total", "kind" => "access_token").increment(1);
        }
        Revoked::Grant { sid } => {
            tracing::info!(client_id = caller.id(), %sid, "revoked a refresh token and its grant");
            metrics::counter!("ward_tokens_revoked_total", "kind" => "refresh_token").increment(1);
        }
        Revoked::Nothing => {}
    }
    Ok(([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], "").into_response())
}

async fn authenticate(app: &AppState, form: &OAuthForm, endpoint: &str) -> Result<AuthenticatedClient, OAuthRejection> {
    let presented = Presented::from_request(form.authorization.as_deref(), &form.params)?;
    Ok(app.oauth.authenticate_client(&presented, endpoint).await?)
}
