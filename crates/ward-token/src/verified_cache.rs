//! Tokens that already passed verification, keyed by their SHA-256, until they expire.
//! Re-verifying an ECDSA signature costs tens of microseconds; a gate or an introspection
//! caller presents the same token many times. Bounded: when full, expired entries go first,
//! then everything (a burst of distinct tokens only costs re-verification).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use ward_core::sync::lock;

use aws_lc_rs::digest;
use ward_core::UnixTime;

/// SHA-256 of the token → (its `exp`, the verified value).
type Entries<T> = HashMap<[u8; 32], (UnixTime, Arc<T>)>;

pub struct VerifiedCache<T> {
    max_entries: usize,
    entries: Mutex<Entries<T>>,
}

impl<T> VerifiedCache<T> {
    pub fn new(max_entries: usize) -> Self {
        Self { max_entries, entries: Mutex::new(HashMap::new()) }
    }

    /// The cached value for `token`, if it was stored and has not expired at `now`.
    pub fn get(&self, token: &str, now: UnixTime) -> Option<Arc<T>> {
        let key = hash(token);
        let entries = lock(&self.entries);
        entries.get(&key).filter(|(exp, _)| *exp > now).map(|(_, v)| v.clone())
    }

    /// Remembers `value` for `token` until `expires_at`.
    pub fn insert(&self, token: &str, expires_at: UnixTime, value: Arc<T>, now: UnixTime) {
        if self.max_entries == 0 || expires_at <= now {
            return;
        }
        let mut entries = lock(&self.entries);
        if entries.len() >= self.max_entries {
            entries.retain(|_, (exp, _)| *exp > now);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(hash(token), (expires_at, value));
    }

    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_until_expiry_and_stays_bounded() {
        let cache = VerifiedCache::new(3);
        cache.insert("a", 100, Arc::new(1), 10);
        assert_eq!(cache.get("a", 99).as_deref(), Some(&1));
        assert!(cache.get("a", 100).is_none(), "expired at exp");
        assert!(cache.get("b", 10).is_none());
        cache.insert("dead", 5, Arc::new(0), 10);
        assert_eq!(cache.len(), 1, "already-expired values are not stored");
        for (i, t) in ["b", "c", "d", "e"].iter().enumerate() {
            cache.insert(t, 1000, Arc::new(i), 10);
        }
        assert!(cache.len() <= 3);
        assert!(cache.get("e", 10).is_some());
    }
}
