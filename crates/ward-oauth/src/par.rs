//! Pushed authorization requests (RFC 9126): a client sends its authorization request over
//! an authenticated back channel and gets a one-time `request_uri` to send the browser with,
//! so nothing in the browser's URL can be tampered with.

use serde::Serialize;
use ward_core::OAuthError;
use ward_store::PushedRequest;
use ward_token::secret::SecretHash;

use crate::authorize::REQUEST_URI_PREFIX;
use crate::client_auth::AuthenticatedClient;
use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};

#[derive(Debug, Clone, Serialize)]
pub struct PushedResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

/// Client authentication parameters: checked by the endpoint, never stored with the request.
const CLIENT_AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

impl<S: Store> AuthorizationServer<S> {
    /// `POST /oauth/par`, for an authenticated client.
    pub async fn push_authorization_request(
        &self,
        client: &AuthenticatedClient,
        params: &FormParams,
    ) -> Result<PushedResponse, OAuthError> {
        if params.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
        }
        let mut stored = params.without(CLIENT_AUTH_PARAMS);
        stored.set("client_id", client.id());
        self.validate_request(&stored, Some(&client.record)).await.map_err(|e| e.into_error())?;
        let id = ward_token::secret::generate(self.entropy.as_ref());
        let ttl = crate::server::secs(self.settings.sign_in.pushed_request_ttl);
        let request = PushedRequest {
            client_id: client.id().to_owned(),
            parameters: stored.encode(),
            expires_at: self.clock.now().saturating_add(ttl),
        };
        self.store
            .insert_pushed_request(&SecretHash::of(&id).to_hex(), &request)
            .await
            .map_err(|e| crate::internal("recording a pushed request", e))?;
        Ok(PushedResponse { request_uri: format!("{REQUEST_URI_PREFIX}{id}"), expires_in: ttl })
    }
}
