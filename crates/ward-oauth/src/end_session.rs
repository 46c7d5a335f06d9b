//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): a client sends the browser
//! here to sign the person out, and may name where to return — but only to a URI it
//! registered, so the endpoint is no open redirector.

use ward_core::{OAuthError, OAuthErrorCode};

use crate::id_token::IdTokenClaims;
use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};

#[derive(Debug, Clone)]
pub struct LogoutRequest {
    /// The ID token the client holds, verified (it may have expired).
    pub hint: Option<IdTokenClaims>,
    /// Where to send the browser afterwards, `state` included.
    pub redirect: Option<String>,
    pub client_name: Option<String>,
}

impl<S: Store> AuthorizationServer<S> {
    pub async fn logout_request(&self, params: &FormParams) -> Result<LogoutRequest, OAuthError> {
        let hint = match params.get("id_token_hint") {
            Some(token) => Some(
                self.verify_id_token_hint(token)
                    .ok_or_else(|| OAuthError::invalid_request("id_token_hint is not an ID token Ward issued"))?,
            ),
            None => None,
        };
        let client_id = match (params.get("client_id"), &hint) {
            (Some(id), Some(h)) if id != h.aud => {
                return Err(OAuthError::invalid_request("client_id differs from the id_token_hint's audience"));
            }
            (Some(id), _) => Some(id.to_owned()),
            (None, Some(h)) => Some(h.aud.clone()),
            (None, None) => None,
        };
        let client = match &client_id {
            Some(id) => self.store.get_client(id).await.map_err(|e| crate::internal("reading a client", e))?,
            None => None,
        };
        let redirect = match params.get("post_logout_redirect_uri") {
            None => None,
            Some(uri) => {
                let registered = client
                    .as_ref()
                    .is_some_and(|c| c.sign_in.post_logout_redirect_uris.iter().any(|r| r.as_str() == uri));
                if !registered {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidRequest,
                        "post_logout_redirect_uri is not registered for this client",
                    ));
                }
                let mut target = uri.to_owned();
                if let Some(state) = params.get("state") {
                    let query: String =
                        form_urlencoded::Serializer::new(String::new()).append_pair("state", state).finish();
                    target.push(if target.contains('?') { '&' } else { '?' });
                    target.push_str(&query);
                }
                Some(target)
            }
        };
        Ok(LogoutRequest { hint, redirect, client_name: client.map(|c| c.name) })
    }

    /// Signs the browser out, and ends the grant the client's ID token names.
    pub async fn end_session(&self, request: &LogoutRequest, session_cookie: Option<&str>) -> Result<(), OAuthError> {
        if let Some(hint) = &request.hint {
            self.revoke_grant(&hint.sid).await.map_err(|e| crate::internal("revoking a grant", e))?;
        }
        if let Some(cookie) = session_cookie {
            self.sign_out(cookie).await.map_err(|e| crate::internal("ending a session", e))?;
        }
        Ok(())
    }
}
