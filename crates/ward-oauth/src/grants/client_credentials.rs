//! RFC 6749 §4.4: a confidential client asks for a token for itself.

use ward_core::{ClientType, GrantType, OAuthError, ScopeSet};

use crate::client_auth::AuthenticatedClient;
use crate::grants::Issued;
use crate::server::{AuthorizationServer, Store};

impl<S: Store> AuthorizationServer<S> {
    pub(crate) async fn client_credentials(
        &self,
        client: &AuthenticatedClient,
        requested: Option<ScopeSet>,
    ) -> Result<Issued, OAuthError> {
        if client.record.client_type != ClientType::Confidential {
            return Err(OAuthError::unauthorized_client("client_credentials is for confidential clients"));
        }
        // No scope asked for: the client's registered scopes are its default (RFC 6749 §3.3).
        let scope = requested.unwrap_or_else(|| client.record.scopes.clone());
        let refused: Vec<&str> = scope.not_in(&client.record.scopes).map(|s| s.as_str()).collect();
        if !refused.is_empty() {
            tracing::debug!(refused = %refused.join(" "), "scopes not allowed for this client");
            return Err(OAuthError::invalid_scope("a requested scope is not allowed for this client"));
        }
        // The client is the subject: its roles and tenant are the token's (RFC 9068 §2.2.3.1).
        let attributes = self.claims().of_client(&client.record);
        let sid = self.client_grant(client.id(), &client.record.scopes).await?;
        self.issue_access_token(client, client.id(), &scope, GrantType::ClientCredentials, &sid, attributes)
    }
}
