//! Cancel requests. Clients get the gate's own BackendKeyData, never the backend's; a
//! CancelRequest naming a live session is forwarded to the backend serving it.
//!
//! A session changes backends on every transaction in transaction pooling, so it holds its
//! own slot and retargets it with one atomic store: the registry lock is taken only when a
//! session starts or ends, and when a cancel arrives.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use ward_core::sync::lock;

use bytes::BytesMut;
use ward_core::Entropy;

use super::backend::Upstream;
use crate::protocol::frontend;

/// The key PostgreSQL gave one backend connection. The gate speaks protocol 3.0 upstream,
/// where the secret is always four bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackendKey {
    pub pid: i32,
    pub secret: [u8; 4],
}

impl BackendKey {
    /// Packed for an atomic slot; 0 means no backend (PostgreSQL never uses pid 0).
    fn pack(key: Option<Self>) -> u64 {
        key.map_or(0, |k| (u64::from(k.pid as u32) << 32) | u64::from(u32::from_be_bytes(k.secret)))
    }

    fn unpack(packed: u64) -> Option<Self> {
        (packed != 0).then(|| Self { pid: (packed >> 32) as u32 as i32, secret: (packed as u32).to_be_bytes() })
    }
}

type Slot = Arc<AtomicU64>;

struct Target {
    secret: [u8; 4],
    backend: Slot,
}

#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<i32, Target>>,
}

/// A session's entry in the registry, removed when dropped.
pub struct Registration<'a> {
    registry: &'a CancelRegistry,
    /// The pid and secret the client was given.
    pub pid: i32,
    pub secret: [u8; 4],
    backend: Slot,
}

impl Registration<'_> {
    /// Points cancels at the backend now serving this session, or at none between transactions.
    pub fn retarget(&self, backend: Option<BackendKey>) {
        self.backend.store(BackendKey::pack(backend), Ordering::Release);
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        lock(&self.registry.sessions).remove(&self.pid);
    }
}

impl CancelRegistry {
    /// A fresh, unused key for a new session.
    pub fn register(&self, entropy: &dyn Entropy, backend: Option<BackendKey>) -> Registration<'_> {
        let slot: Slot = Arc::new(AtomicU64::new(BackendKey::pack(backend)));
        let mut sessions = lock(&self.sessions);
        loop {
            let mut raw = [0u8; 8];
            entropy.fill(&mut raw);
            let pid = i32::from_be_bytes([raw[0] & 0x7f, raw[1], raw[2], raw[3]]).max(1);
            if sessions.contains_key(&pid) {
                continue;
            }
            let secret = [raw[4], raw[5], raw[6], raw[7]];
            sessions.insert(pid, Target { secret, backend: slot.clone() });
            return Registration { registry: self, pid, secret, backend: slot };
        }
    }

    pub async fn cancel(&self, upstream: &Upstream, pid: i32, secret: &[u8]) {
        let target = lock(&self.sessions).get(&pid).map(|t| (t.secret, t.backend.clone()));
        let Some((key, slot)) = target else { return };
        if aws_lc_rs::constant_time::verify_slices_are_equal(&key, secret).is_err() {
            tracing::warn!(pid, "cancel request with a wrong key ignored");
            return;
        }
        let Some(backend) = BackendKey::unpack(slot.load(Ordering::Acquire)) else { return };
        let mut out = BytesMut::new();
        frontend::encode_cancel(&mut out, backend.pid, &backend.secret);
        if let Err(e) = upstream.send_alone(&out).await {
            tracing::warn!(error = %e, "cannot reach PostgreSQL to forward a cancel request");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(std::sync::atomic::AtomicU8);
    impl Entropy for Counter {
        fn fill(&self, out: &mut [u8]) {
            // The same pid twice in a row, to exercise the collision retry.
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) / 2;
            out.fill(n + 1);
        }
    }

    #[test]
    fn keys_are_unique_and_dropped_with_their_session() {
        let registry = CancelRegistry::default();
        let entropy = Counter(Default::default());
        let first = registry.register(&entropy, None);
        let second = registry.register(&entropy, None);
        assert_ne!(first.pid, second.pid);
        let key = BackendKey { pid: i32::MAX, secret: [0xff, 2, 3, 4] };
        second.retarget(Some(key));
        assert_eq!(registry.sessions.lock().unwrap().len(), 2);
        let slot = registry.sessions.lock().unwrap()[&second.pid].backend.clone();
        assert_eq!(BackendKey::unpack(slot.load(Ordering::Acquire)), Some(key));
        second.retarget(None);
        assert_eq!(BackendKey::unpack(slot.load(Ordering::Acquire)), None);
        drop(first);
        drop(second);
        assert!(registry.sessions.lock().unwrap().is_empty());
    }
}
