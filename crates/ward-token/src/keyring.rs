//! The keys a node signs and verifies with: one active key, plus retired keys that stay
//! published until every token they signed has expired.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;
use ward_core::UnixTime;

use crate::key::SigningKey;

/// A key as the keyring holds it.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    pub key: Arc<SigningKey>,
    /// When it stopped signing; `None` for the active key.
    pub retired_at: Option<UnixTime>,
}

#[derive(Debug)]
pub struct Keyring {
    active: Arc<SigningKey>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks: String,
}

impl Keyring {
    /// `active` signs; `published` (which may include `active`) verify and appear in the JWKS.
    pub fn new(active: Arc<SigningKey>, published: impl IntoIterator<Item = Arc<SigningKey>>) -> Self {
        let mut by_kid = HashMap::new();
        let mut keys = vec![active.public_jwk().clone()];
        by_kid.insert(active.kid().to_owned(), active.clone());
        for key in published {
            if by_kid.insert(key.kid().to_owned(), key.clone()).is_none() {
                keys.push(key.public_jwk().clone());
            }
        }
        let jwks = json!({ "keys": keys }).to_string();
        Self { active, by_kid, jwks }
    }

    pub fn active(&self) -> &Arc<SigningKey> {
        &self.active
    }

    pub fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.by_kid.get(kid)
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }

    /// The JWKS document (RFC 7517 §5), rendered once per keyring.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}
