//! Cancel requests. Clients get the gate's own BackendKeyData, never the backend's; a
//! CancelRequest naming a live session is forwarded to the backend serving it.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use ward_core::Entropy;

use super::backend::Upstream;
use crate::protocol::frontend;

#[derive(Clone)]
struct Target {
    secret: [u8; 4],
    /// The backend serving the session now; `None` between transactions in transaction pooling.
    backend: Option<(i32, Vec<u8>)>,
}

#[derive(Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<i32, Target>>,
}

impl CancelRegistry {
    /// Issues a fresh key for a session served by the given backend.
    pub fn register(&self, entropy: &dyn Entropy, backend: Option<(i32, Vec<u8>)>) -> (i32, [u8; 4]) {
        let Ok(mut sessions) = self.sessions.lock() else { return (0, [0; 4]) };
        loop {
            let mut raw = [0u8; 8];
            entropy.fill(&mut raw);
            let pid = i32::from_be_bytes([raw[0] & 0x7f, raw[1], raw[2], raw[3]]).max(1);
            if sessions.contains_key(&pid) {
                continue;
            }
            let secret = [raw[4], raw[5], raw[6], raw[7]];
            sessions.insert(pid, Target { secret, backend });
            return (pid, secret);
        }
    }

    /// Points a session's key at the backend now serving it (transaction pooling).
    pub fn retarget(&self, pid: i32, backend: Option<(i32, Vec<u8>)>) {
        if let Ok(mut sessions) = self.sessions.lock()
            && let Some(target) = sessions.get_mut(&pid)
        {
            target.backend = backend;
        }
    }

    pub fn unregister(&self, pid: i32) {
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.remove(&pid);
        }
    }

    /// Forwards a cancel if `pid` and `secret` name a live session; silently ignores the
    /// rest, as PostgreSQL does, so a guesser learns nothing.
    pub async fn cancel(&self, upstream: &Upstream, pid: i32, secret: &[u8]) {
        let target = self.sessions.lock().ok().and_then(|s| s.get(&pid).cloned());
        let Some(Target { secret: key, backend: Some((backend_pid, backend_secret)) }) = target else { return };
        let matches = secret.len() == 4 && aws_constant_eq(&key, secret);
        if !matches {
            tracing::warn!(pid, "cancel request with a wrong key ignored");
            return;
        }
        let mut out = BytesMut::new();
        frontend::encode_cancel(&mut out, backend_pid, &backend_secret);
        match tokio::net::TcpStream::connect((upstream.host.as_str(), upstream.port)).await {
            Ok(mut stream) => {
                let _ = stream.write_all(&out).await;
                let _ = stream.shutdown().await;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach PostgreSQL to forward a cancel request"),
        }
    }
}

fn aws_constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
