//! People signing in with a password, and the browser sessions that follow.
//!
//! Failures answer with one error whatever went wrong — unknown user, wrong password, disabled
//! account, no password set — and take the same time: an unknown user's password is checked
//! against a dummy hash of the configured cost. Failed attempts slow down the account and the
//! address they came from: after a few free tries each further failure doubles the wait, up
//! to 15 minutes. The throttle lives in this node's memory; with several nodes behind a load
//! balancer an attacker's budget grows with the node count.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use ward_core::sync::lock;

use ward_core::UnixTime;
use ward_store::{BrowserSession, StoreError};
use ward_token::secret::SecretHash;

use crate::server::{AuthorizationServer, Store};

/// Failures allowed before waits begin.
const FREE_FAILURES: u32 = 3;
const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
/// Tracked keys (accounts and addresses) before the throttle starts over.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The one answer for every bad username/password combination.
    #[error("the username or password is incorrect")]
    Rejected,
    /// Too many failures from this account or address.
    #[error("too many failed attempts; wait {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("password check failed")]
    Internal,
}

#[derive(Default)]
pub(crate) struct SignInThrottle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl SignInThrottle {
    /// The wait left before `keys` may try again.
    pub(crate) fn wait(&self, keys: &[String]) -> Option<Duration> {
        let failures = lock(&self.failures);
        keys.iter()
            .filter_map(|k| failures.get(k))
            .filter_map(|(_, until)| until.checked_duration_since(Instant::now()))
            .max()
    }

    pub(crate) fn fail(&self, keys: &[String]) {
        let mut failures = lock(&self.failures);
        if failures.len() >= MAX_TRACKED {
            failures.clear();
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert((0, Instant::now()));
            entry.0 = entry.0.saturating_add(1);
            let over = entry.0.saturating_sub(FREE_FAILURES);
            let wait = if over == 0 { Duration::ZERO } else { Duration::from_secs(1 << over.min(10)).min(MAX_WAIT) };
            entry.1 = Instant::now() + wait;
        }
    }

    fn succeed(&self, account: &str) {
        lock(&self.failures).remove(account);
    }
}

/// A browser session that was just made: the cookie value goes to the browser, once.
pub struct NewSession {
    pub cookie: String,
    pub username: String,
    pub auth_time: UnixTime,
}

impl<S: Store> AuthorizationServer<S> {
    /// Checks a username and password and opens a browser session.
    pub async fn sign_in(&self, username: &str, password: &str, from: IpAddr) -> Result<NewSession, SignInError> {
        let account = format!("user:{}", username.to_ascii_lowercase());
        let keys = [account.clone(), format!("addr:{}", address_key(from))];
        if let Some(wait) = self.throttle.wait(&keys) {
            return Err(SignInError::Throttled(wait));
        }
        let user = self.store.get_user(username).await?;
        let hash = match &user {
            Some(u) if !u.disabled => u.password_hash.clone(),
            _ => None,
        };
        let known = hash.is_some();
        let hashing = self.settings.passwords;
        let hash = hash.unwrap_or_else(|| dummy_hash(hashing).to_owned());
        let password = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || hashing.verify(&password, &hash))
            .await
            .map_err(|_| SignInError::Internal)?;
        let Some(user) = user.filter(|_| matches && known) else {
            self.throttle.fail(&keys);
            tracing::info!(from = %from, "failed sign-in");
            return Err(SignInError::Rejected);
        };
        self.throttle.succeed(&account);
        let now = self.clock.now();
        // A new cookie value at every sign-in: a session id planted before it is worth nothing.
        let cookie = ward_token::secret::generate(self.entropy.as_ref());
        let session = BrowserSession {
            username: user.username.clone(),
            auth_time: now,
            created_at: now,
            expires_at: now.saturating_add(crate::server::secs(self.settings.sign_in.session_ttl)),
        };
        self.store.insert_session(&SecretHash::of(&cookie).to_hex(), &session).await?;
        tracing::info!(user = %user.username, "signed in");
        Ok(NewSession { cookie, username: user.username, auth_time: now })
    }

    /// The session behind a cookie value, if it is current and its user may still sign in.
    pub async fn browser_session(&self, cookie: &str) -> Result<Option<BrowserSession>, StoreError> {
        let hash = SecretHash::of(cookie).to_hex();
        let Some(session) = self.store.get_session(&hash).await? else { return Ok(None) };
        if session.expires_at <= self.clock.now() {
            return Ok(None);
        }
        let user = self.store.get_user(&session.username).await?;
        Ok(user.is_some_and(|u| !u.disabled).then_some(session))
    }

    pub async fn sign_out(&self, cookie: &str) -> Result<(), StoreError> {
        self.store.delete_session(&SecretHash::of(cookie).to_hex()).await
    }
}

/// IPv6 clients are throttled per /64, what one subscriber usually holds.
pub(crate) fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// A hash of the configured cost to check unknown users' passwords against, so that they take
/// as long as known ones.
fn dummy_hash(hashing: crate::users::PasswordHashing) -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hashing.hash("ward-dummy-password-never-matches").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_the_free_failures() {
        let throttle = SignInThrottle::default();
        let keys = ["user:alice".to_owned(), "addr:10.0.0.1".to_owned()];
        for _ in 0..FREE_FAILURES {
            throttle.fail(&keys);
        }
        assert_eq!(throttle.wait(&keys), None, "the free failures cost nothing");
        throttle.fail(&keys);
        let first = throttle.wait(&keys).unwrap();
        assert!(first <= Duration::from_secs(2) && first > Duration::from_millis(1500), "{first:?}");
        throttle.fail(&keys);
        assert!(throttle.wait(&keys).unwrap() > Duration::from_secs(3));
        // Another account from the same address waits too; the same account elsewhere as well.
        assert!(throttle.wait(&["user:bob".to_owned(), "addr:10.0.0.1".to_owned()]).is_some());
        assert!(throttle.wait(&["user:alice".to_owned(), "addr:10.9.9.9".to_owned()]).is_some());
        throttle.succeed("user:alice");
        assert!(throttle.wait(&["user:alice".to_owned(), "addr:10.9.9.9".to_owned()]).is_none());
        for _ in 0..40 {
            throttle.fail(&keys);
        }
        assert!(throttle.wait(&keys).unwrap() <= MAX_WAIT);
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
    }
}
