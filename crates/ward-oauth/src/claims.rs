//! What tokens say about their subject, under the configured claim names. Roles, groups and
//! tenant are authorization data and always travel (gates map them); the email address and
//! names are personal data and travel only with the `email` and `profile` scopes (OpenID
//! Connect Core §5.4).

use serde_json::{Map, Value, json};
use ward_core::ScopeSet;
use ward_store::{ClientRecord, UserRecord};

use crate::server::{AuthorizationServer, ClaimNames, Store};

pub struct Claims<'a> {
    names: &'a ClaimNames,
}

impl Claims<'_> {
    /// A client acting for itself: its roles and tenant (RFC 9068 §2.2.3.1).
    pub fn of_client(&self, client: &ClientRecord) -> Map<String, Value> {
        let mut claims = Map::new();
        self.authorization(&mut claims, &client.roles, &[], client.tenant.as_deref());
        claims
    }

    /// A person, as far as `scopes` lets the client know them.
    pub fn of_user(&self, user: &UserRecord, scopes: &ScopeSet) -> Map<String, Value> {
        let mut claims = Map::new();
        self.authorization(&mut claims, &user.roles, &user.groups, user.tenant.as_deref());
        if scopes.has("email")
            && let Some(email) = &user.email
        {
            claims.insert(self.names.email.clone(), json!(email));
        }
        if scopes.has("profile") {
            claims.insert(self.names.preferred_username.clone(), json!(user.username));
            if let Some(name) = &user.name {
                claims.insert(self.names.name.clone(), json!(name));
            }
        }
        claims
    }

    fn authorization(
        &self,
        claims: &mut Map<String, Value>,
        roles: &[String],
        groups: &[String],
        tenant: Option<&str>,
    ) {
        if !roles.is_empty() {
            claims.insert(self.names.roles.clone(), json!(roles));
        }
        if !groups.is_empty() {
            claims.insert(self.names.groups.clone(), json!(groups));
        }
        if let Some(tenant) = tenant {
            claims.insert(self.names.tenant.clone(), json!(tenant));
        }
    }
}

impl<S: Store> AuthorizationServer<S> {
    pub fn claims(&self) -> Claims<'_> {
        Claims { names: &self.settings.claims }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserRecord {
        UserRecord {
            username: "alice".into(),
            password_hash: None,
            disabled: false,
            roles: vec!["reader".into()],
            groups: vec!["eng".into()],
            tenant: Some("acme".into()),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn personal_data_only_with_its_scope() {
        let names = ClaimNames { roles: "https://ward.example/roles".into(), ..ClaimNames::default() };
        let claims = Claims { names: &names };
        let bare = claims.of_user(&user(), &ScopeSet::parse("openid").unwrap());
        assert_eq!(bare["https://ward.example/roles"], json!(["reader"]));
        assert_eq!(bare["groups"], json!(["eng"]));
        assert_eq!(bare["tenant"], "acme");
        assert!(bare.get("email").is_none() && bare.get("name").is_none());
        let full = claims.of_user(&user(), &ScopeSet::parse("openid email profile").unwrap());
        assert_eq!(full["email"], "alice@example.com");
        assert_eq!(full["name"], "Alice");
        assert_eq!(full["preferred_username"], "alice");
    }
}
