//! What ends a session from outside its traffic: its token's expiry (`close_on_expiry`) and
//! a client that keeps the server waiting too long (`client_idle_timeout`). One mechanism for
//! idleness, whether the gate relays bytes in two tasks or handles messages in one loop.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;
use ward_core::{Clock, UnixTime};

/// Time left until `expires_at`, by `clock`; zero once it has passed.
pub fn time_left(expires_at: UnixTime, clock: &dyn Clock) -> Duration {
    Duration::from_secs(u64::try_from(expires_at.saturating_sub(clock.now())).unwrap_or(0))
}

/// Completes when `limit` has passed; never for `None`.
pub async fn after(limit: Option<Duration>) {
    match limit {
        Some(limit) => tokio::time::sleep(limit).await,
        None => std::future::pending().await,
    }
}

/// When the session last moved, and whether it is waiting for the client (the server's last
/// word ended its answer). Shared by everything that moves the session, so `&self` only.
pub struct IdleWatch {
    /// `None`: clients may stay idle for ever, and nothing is tracked.
    limit: Option<Duration>,
    base: Instant,
    last_ms: AtomicU64,
    waiting_for_client: AtomicBool,
}

impl IdleWatch {
    /// A watch that fires after `limit` of client silence; never when `limit` is zero.
    pub fn new(limit: Duration) -> Self {
        Self {
            limit: Some(limit).filter(|l| !l.is_zero()),
            base: Instant::now(),
            last_ms: AtomicU64::new(0),
            waiting_for_client: AtomicBool::new(true),
        }
    }

    /// The session moved; `waiting_for_client`: the client is the one to speak next.
    pub fn touch(&self, waiting_for_client: bool) {
        if self.limit.is_none() {
            return;
        }
        self.last_ms.store(self.base.elapsed().as_millis() as u64, Relaxed);
        self.waiting_for_client.store(waiting_for_client, Relaxed);
    }

    /// How long the client has kept the session waiting, if it is the one to speak.
    pub fn client_idle_for(&self) -> Option<Duration> {
        if !self.waiting_for_client.load(Relaxed) {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Relaxed));
        Some(self.base.elapsed().saturating_sub(last))
    }

    /// Completes once the client has kept the session waiting for the limit; never without
    /// one. Reads the state afresh, so it may be polled from any loop.
    pub async fn expired(&self) {
        let Some(limit) = self.limit else { return std::future::pending().await };
        loop {
            let idle = self.client_idle_for();
            match idle {
                Some(idle) if idle >= limit => return,
                Some(idle) => tokio::time::sleep(limit - idle).await,
                // The server is the one to speak: look again after a whole limit.
                None => tokio::time::sleep(limit).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fires_only_while_the_client_keeps_the_server_waiting() {
        let watch = IdleWatch::new(Duration::from_secs(10));
        watch.touch(false);
        // The server is busy: no limit applies, however long it takes.
        let quiet = tokio::time::timeout(Duration::from_secs(60), watch.expired()).await;
        assert!(quiet.is_err());
        watch.touch(true);
        let started = Instant::now();
        watch.expired().await;
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(10) && waited < Duration::from_secs(11), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_limit_never_fires() {
        let watch = IdleWatch::new(Duration::ZERO);
        watch.touch(true);
        assert!(tokio::time::timeout(Duration::from_secs(3600), watch.expired()).await.is_err());
        assert!(tokio::time::timeout(Duration::from_secs(1), after(None)).await.is_err());
    }

    #[test]
    fn time_left_never_goes_negative() {
        let clock = ward_core::ManualClock::new(1_000);
        assert_eq!(time_left(1_090, &clock), Duration::from_secs(90));
        assert_eq!(time_left(900, &clock), Duration::ZERO);
    }
}
