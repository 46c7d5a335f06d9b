//! Device authorization (RFC 8628): a device without a browser gets a device code and a short
//! user code; the person types the user code at `/device` on any browser, signs in, approves;
//! the device, polling the token endpoint, gets its tokens — once.

use std::net::IpAddr;

use serde::Serialize;
use ward_core::{Description, GrantType, OAuthError, OAuthErrorCode, ScopeSet};
use ward_store::{DeviceCode, DeviceStatus, ScopeRecord, StoreError};
use ward_token::secret::SecretHash;

use crate::client_auth::AuthenticatedClient;
use crate::grants::Issued;
use crate::id_token::{GrantTokens, NewRefresh};
use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};
use crate::sign_in::address_key;

/// RFC 8628 §6.1: consonants only (no vowels, so no words; no 0/O or 1/I to confuse), upper
/// case. 20 letters, 8 of them: 20^8 ≈ 2^34.6 codes.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;
pub const DEVICE_PATH: &str = "/device";

#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A pending device code, for the confirmation page.
#[derive(Debug, Clone)]
pub struct PendingDevice {
    /// As the person should see it: `XXXX-XXXX`.
    pub user_code: String,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<ScopeRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum UserCodeError {
    #[error("that code is not valid; check it and try again")]
    Unknown,
    #[error("too many wrong codes; wait {} seconds", .0.as_secs().max(1))]
    Throttled(std::time::Duration),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a person typed, as stored: upper case, without spaces and dashes. `None` when it
/// cannot be a user code.
pub fn normalise_user_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

/// `XXXX-XXXX`.
pub fn display_user_code(code: &str) -> String {
    match (code.get(..4), code.get(4..)) {
        (Some(a), Some(b)) => format!("{a}-{b}"),
        _ => code.to_owned(),
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// `POST /oauth/device_authorization` for an authenticated client.
    pub async fn device_authorization(
        &self,
        client: &AuthenticatedClient,
        params: &FormParams,
    ) -> Result<DeviceAuthorization, OAuthError> {
        if !client.record.grant_types.contains(&GrantType::DeviceCode) {
            return Err(OAuthError::unauthorized_client("this client may not use device authorization"));
        }
        let scopes = match params.get("scope") {
            Some(scope) => ScopeSet::parse(scope).map_err(|_| OAuthError::invalid_scope("scope is malformed"))?,
            None => client.record.scopes.clone(),
        };
        if !scopes.is_subset(&client.record.scopes) {
            return Err(OAuthError::invalid_scope("a requested scope is not allowed for this client"));
        }
        let now = self.clock.now();
        let ttl = crate::server::secs(self.settings.sign_in.device_code_ttl);
        let interval = crate::server::secs(self.settings.sign_in.device_poll_interval);
        let device_code = ward_token::secret::generate(self.entropy.as_ref());
        let hash = SecretHash::of(&device_code).to_hex();
        // A user code may be taken by another live device: draw again.
        for _ in 0..5 {
            let user_code = self.new_user_code();
            let record = DeviceCode {
                user_code: user_code.clone(),
                client_id: client.id().to_owned(),
                scopes: scopes.clone(),
                grant_id: self.new_grant_id(),
                created_at: now,
                expires_at: now.saturating_add(ttl),
                interval_secs: interval,
                last_polled_at: None,
                status: DeviceStatus::Pending,
                username: None,
                auth_time: None,
            };
            match self.store.insert_device_code(&hash, &record).await {
                Ok(()) => {
                    let shown = display_user_code(&user_code);
                    let verification_uri = self.settings.endpoint(DEVICE_PATH);
                    return Ok(DeviceAuthorization {
                        device_code,
                        verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                        verification_uri,
                        user_code: shown,
                        expires_in: ttl,
                        interval,
                    });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(crate::internal("recording a device code", e)),
            }
        }
        Err(crate::internal("recording a device code", "five user codes in a row were taken"))
    }

    fn new_user_code(&self) -> String {
        // Rejection sampling keeps every letter equally likely (256 is not a multiple of 20).
        let mut code = String::with_capacity(USER_CODE_LEN);
        while code.len() < USER_CODE_LEN {
            let mut byte = [0u8; 1];
            self.entropy.fill(&mut byte);
            if byte[0] < 240 {
                code.push(char::from(USER_CODE_ALPHABET[usize::from(byte[0] % 20)]));
            }
        }
        code
    }

    /// The pending device a person's typed code names. Wrong codes count against the browser
    /// session and the address alike, with growing waits.
    pub async fn pending_device(
        &self,
        typed: &str,
        session_key: &str,
        from: IpAddr,
    ) -> Result<PendingDevice, UserCodeError> {
        let keys = [format!("session:{session_key}"), format!("addr:{}", address_key(from))];
        if let Some(wait) = self.user_code_throttle.wait(&keys) {
            return Err(UserCodeError::Throttled(wait));
        }
        let found = match normalise_user_code(typed) {
            Some(code) => self.store.pending_user_code(&code, self.clock.now()).await?,
            None => None,
        };
        let Some(device) = found else {
            self.user_code_throttle.fail(&keys);
            return Err(UserCodeError::Unknown);
        };
        let client = self.clients.get(&self.store, &device.client_id, self.clock.now()).await?;
        let Some(client) = client else { return Err(UserCodeError::Unknown) };
        let scopes = self.described_scopes(&device.scopes).await?;
        Ok(PendingDevice {
            user_code: display_user_code(&device.user_code),
            client_id: client.client_id.clone(),
            client_name: client.name.clone(),
            scopes,
        })
    }

    /// The person's answer for a device. False when the code is no longer pending.
    pub async fn decide_device(
        &self,
        typed: &str,
        approve: bool,
        username: &str,
        auth_time: ward_core::UnixTime,
    ) -> Result<bool, StoreError> {
        let Some(code) = normalise_user_code(typed) else { return Ok(false) };
        self.store.decide_device_code(&code, approve, username, auth_time, self.clock.now()).await
    }

    /// The token endpoint's `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4).
    pub(crate) async fn device_code_grant(
        &self,
        client: &AuthenticatedClient,
        device_code: &str,
    ) -> Result<Issued, OAuthError> {
        let now = self.clock.now();
        let hash = SecretHash::of(device_code).to_hex();
        let failed = |e| crate::internal("reading a device code", e);
        let Some(device) = self.store.device_code(&hash).await.map_err(failed)? else {
            return Err(OAuthError::invalid_grant("the device code is invalid or was issued to another client"));
        };
        if device.client_id != client.id() {
            return Err(OAuthError::invalid_grant("the device code is invalid or was issued to another client"));
        }
        if device.expires_at <= now {
            return Err(OAuthError::new(OAuthErrorCode::ExpiredToken, "the device code has expired; start again"));
        }
        match device.status {
            DeviceStatus::Denied => return Err(OAuthError::access_denied("the person denied the request")),
            DeviceStatus::Redeemed => {
                return Err(OAuthError::invalid_grant("the device code has already been used"));
            }
            DeviceStatus::Pending => {
                // §3.5: polling sooner than the interval slows the device down by 5 s.
                let too_soon = device.last_polled_at.is_some_and(|at| now.saturating_sub(at) < device.interval_secs);
                let interval = if too_soon { device.interval_secs.saturating_add(5) } else { device.interval_secs };
                self.store.record_poll(&hash, now, interval).await.map_err(failed)?;
                return Err(if too_soon {
                    OAuthError::new(
                        OAuthErrorCode::SlowDown,
                        Description::new("polling too fast; the interval grew by 5 seconds"),
                    )
                } else {
                    OAuthError::new(OAuthErrorCode::AuthorizationPending, "the person has not approved the request yet")
                });
            }
            DeviceStatus::Approved => {}
        }
        if !self.store.redeem_device_code(&hash).await.map_err(failed)? {
            return Err(OAuthError::invalid_grant("the device code has already been used"));
        }
        let username = device.username.as_deref().unwrap_or_default();
        let auth_time = device.auth_time.unwrap_or(now);
        let (grant, user) =
            self.record_user_grant(&device.grant_id, client.id(), username, &device.scopes, auth_time).await?;
        self.issue_for_grant(GrantTokens {
            client,
            grant: &grant,
            user: &user,
            scopes: &grant.scopes,
            grant_type: GrantType::DeviceCode,
            nonce: None,
            refresh: NewRefresh::First,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_ignore_case_spaces_and_dashes() {
        assert_eq!(normalise_user_code("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise_user_code(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalise_user_code("bc-df-gh-jk").as_deref(), Some("BCDFGHJK"));
        for bad in ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1", "", "BCDF_GHJK"] {
            assert_eq!(normalise_user_code(bad), None, "{bad}");
        }
        assert_eq!(display_user_code("BCDFGHJK"), "BCDF-GHJK");
    }
}
