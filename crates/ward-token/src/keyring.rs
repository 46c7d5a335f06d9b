//! The keys a node signs and verifies with, on a schedule every node shares: a key is published
//! (in the JWKS) from one instant, signs from a later one until a newer key takes over, and
//! stays published until every token it signed has expired. Every answer depends on `now`, so
//! two nodes holding the same keys publish the same JWKS and sign with the same key.

use std::collections::HashMap;
use std::sync::Arc;

use ward_core::UnixTime;

use crate::key::SigningKey;

/// A key and its schedule.
#[derive(Debug, Clone)]
pub struct ScheduledKey {
    pub key: Arc<SigningKey>,
    pub published_from: UnixTime,
    pub active_from: UnixTime,
    pub publish_until: Option<UnixTime>,
}

impl ScheduledKey {
    fn published_at(&self, now: UnixTime) -> bool {
        self.published_from <= now && self.publish_until.is_none_or(|until| now < until)
    }
}

#[derive(Debug)]
pub struct Keyring {
    /// Newest `active_from` first.
    keys: Vec<ScheduledKey>,
    by_kid: HashMap<String, usize>,
    /// Each key's public JWK, serialised once.
    jwk_json: Vec<String>,
}

impl Keyring {
    /// `None` without keys. Of keys that start signing at the same instant, the one given
    /// first wins (the store lists the newest first).
    pub fn new(mut keys: Vec<ScheduledKey>) -> Option<Self> {
        if keys.is_empty() {
            return None;
        }
        keys.sort_by_key(|k| std::cmp::Reverse(k.active_from));
        let by_kid = keys.iter().enumerate().map(|(i, k)| (k.key.kid().to_owned(), i)).collect();
        let jwk_json = keys.iter().map(|k| serde_json::to_string(k.key.public_jwk()).unwrap_or_default()).collect();
        Some(Self { keys, by_kid, jwk_json })
    }

    /// The key that signs at `now`: the one with the latest `active_from` not after `now`
    /// (should none have started, as a clock behind the others might see, the earliest).
    pub fn signing_key(&self, now: UnixTime) -> &Arc<SigningKey> {
        let index = self.signing_index(now);
        &self.keys[index].key
    }

    fn signing_index(&self, now: UnixTime) -> usize {
        self.keys.iter().position(|k| k.active_from <= now).unwrap_or(self.keys.len() - 1)
    }

    /// A key this node holds, for verification: any on the schedule, so that a token signed
    /// by another node whose clock runs a little ahead still verifies.
    pub fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.by_kid.get(kid).map(|&i| &self.keys[i].key)
    }

    pub fn schedule(&self) -> &[ScheduledKey] {
        &self.keys
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The JWKS document (RFC 7517 §5) at `now`: the signing key first, then every other key
    /// published at `now`, staged ones included.
    pub fn jwks_json(&self, now: UnixTime) -> String {
        let signing = self.signing_index(now);
        let order = std::iter::once(signing).chain((0..self.keys.len()).filter(|&i| i != signing));
        let published: Vec<&str> = order
            .filter(|&i| i == signing || self.keys[i].published_at(now))
            .map(|i| self.jwk_json[i].as_str())
            .collect();
        format!("{{\"keys\":[{}]}}", published.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::generate_pkcs8;
    use ward_core::SigningAlg;

    fn key(published_from: UnixTime, active_from: UnixTime, publish_until: Option<UnixTime>) -> ScheduledKey {
        let pkcs8 = generate_pkcs8(SigningAlg::ES256).unwrap();
        let key = Arc::new(SigningKey::from_pkcs8(SigningAlg::ES256, &pkcs8).unwrap());
        ScheduledKey { key, published_from, active_from, publish_until }
    }

    fn kids(ring: &Keyring, now: UnixTime) -> Vec<String> {
        let jwks: serde_json::Value = serde_json::from_str(&ring.jwks_json(now)).unwrap();
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn a_staged_key_is_published_first_and_signs_later() {
        let old = key(0, 0, Some(2000));
        let new = key(100, 700, None);
        let (o, n) = (old.key.kid().to_owned(), new.key.kid().to_owned());
        let ring = Keyring::new(vec![old, new]).unwrap();
        assert_eq!(kids(&ring, 50), std::slice::from_ref(&o), "not yet published");
        assert_eq!(kids(&ring, 100), [o.clone(), n.clone()], "published ahead, the signing key first");
        assert_eq!(ring.signing_key(699).kid(), o);
        assert_eq!(ring.signing_key(700).kid(), n);
        assert_eq!(kids(&ring, 700), [n.clone(), o.clone()]);
        assert_eq!(kids(&ring, 2000), std::slice::from_ref(&n), "retired once its tokens have expired");
        assert!(ring.get(&o).is_some() && ring.get(&n).is_some());
        assert!(Keyring::new(Vec::new()).is_none());
    }
}
