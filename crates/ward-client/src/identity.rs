//! Who the cached tokens say the person is: the ID token, verified against the issuer's
//! JWKS (signature, `iss`, `aud`), for `ward whoami`.

use serde_json::{Map, Value};

use crate::issuer::Issuer;
use crate::{ClientError, Result};

pub struct Identity {
    pub claims: Map<String, Value>,
}

/// Verifies `id_token` (its expiry aside: `whoami` reports on the session, not the ID token's
/// own lifetime) and returns its claims.
pub async fn verify_id_token(issuer: &Issuer, id_token: &str) -> Result<Identity> {
    let jwks_uri =
        issuer.metadata.jwks_uri.as_deref().ok_or_else(|| ClientError::Issuer("publishes no jwks_uri".into()))?;
    let jwks: ward_token::foreign::JwkSet = ward_token::fetch::get_json(&issuer.http, jwks_uri)
        .await
        .map_err(|detail| ClientError::Unreachable { url: jwks_uri.to_owned(), detail: detail.to_string() })?;
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: Option<String>,
    }
    let subject = ward_token::jws::insecure_claims::<Subject>(id_token)
        .and_then(|s| s.sub)
        .ok_or_else(|| ClientError::Issuer("sent an ID token without a subject".into()))?;
    let expect = ward_token::foreign::Expectations {
        issuer: &issuer.profile.issuer,
        subject: &subject,
        audiences: std::slice::from_ref(&issuer.profile.client_id),
        leeway_secs: u64::MAX / 4,
        now: crate::now(),
    };
    let claims: Map<String, Value> = ward_token::foreign::verify(id_token, &jwks, &expect)
        .map_err(|e| ClientError::Issuer(format!("sent an ID token that does not verify ({e})")))?;
    Ok(Identity { claims })
}

impl Identity {
    /// "alice@example.com (roles: admin)" from the claims it has.
    pub fn describe(&self, roles_claim: &str) -> String {
        let text = |name: &str| self.claims.get(name).and_then(Value::as_str);
        let who = text("email").or_else(|| text("preferred_username")).or_else(|| text("sub")).unwrap_or("?");
        match self.claims.get(roles_claim).and_then(Value::as_array) {
            Some(roles) if !roles.is_empty() => {
                let roles: Vec<&str> = roles.iter().filter_map(Value::as_str).collect();
                format!("{who} (roles: {})", roles.join(", "))
            }
            _ => who.to_owned(),
        }
    }
}
