//! User administration, used by the CLI: people with argon2id passwords and the attributes
//! their tokens will carry.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher as _, PasswordVerifier as _, Version};
use ward_core::Clock;
use ward_store::{DeviceStore, GrantStore, SessionStore, StoreError, UserRecord, UserStore};

use crate::admin::{AdminError, attribute};

/// Shortest accepted password, in characters (OWASP ASVS 2.1.1).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longest accepted password, in bytes: hashing cost must not grow with hostile input.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// argon2id cost parameters. The defaults are OWASP's first recommendation: 19 MiB, two
/// passes, one lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

impl PasswordHashing {
    fn argon2(&self) -> Result<Argon2<'static>, AdminError> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| AdminError::Invalid(format!("argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// The PHC string of `password` with a fresh salt.
    pub fn hash(&self, password: &str) -> Result<String, AdminError> {
        check_password(password)?;
        let hash = self
            .argon2()?
            .hash_password(password.as_bytes())
            .map_err(|e| AdminError::Invalid(format!("hashing the password: {e}")))?;
        Ok(hash.to_string())
    }

    /// Whether `password` matches the PHC string `hash` (whatever parameters it was made with).
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        if password.len() > MAX_PASSWORD_BYTES {
            return false;
        }
        let Ok(parsed) = PasswordHash::new(hash) else { return false };
        Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
    }
}

fn check_password(password: &str) -> Result<(), AdminError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(AdminError::Invalid(format!(
            "a password is {MIN_PASSWORD_CHARS} characters or more (at most {MAX_PASSWORD_BYTES} bytes)"
        )));
    }
    Ok(())
}

/// A user as the administrator describes it.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub password: Option<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub tenant: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

pub struct UserAdmin<'a, S> {
    pub store: &'a S,
    pub clock: &'a dyn Clock,
    pub hashing: PasswordHashing,
}

/// A username: 1-64 characters of letters, digits and `.`, `_`, `-`, `@`.
fn validate_username(username: &str) -> Result<String, AdminError> {
    let ok = !username.is_empty()
        && username.len() <= 64
        && username.chars().all(|c| c.is_ascii_alphanumeric() || ".-_@".contains(c));
    if ok {
        Ok(username.to_owned())
    } else {
        Err(AdminError::Invalid("a username is 1-64 characters: letters, digits, '.', '_', '-', '@'".into()))
    }
}

fn sorted(what: &str, values: &[String]) -> Result<Vec<String>, AdminError> {
    let set = values.iter().map(|v| attribute(what, v)).collect::<Result<std::collections::BTreeSet<_>, _>>()?;
    Ok(set.into_iter().collect())
}

impl<S: UserStore + GrantStore + SessionStore + DeviceStore> UserAdmin<'_, S> {
    pub async fn create_user(&self, new: NewUser) -> Result<UserRecord, AdminError> {
        let now = self.clock.now();
        let optional = |what: &str, v: &Option<String>| v.as_deref().map(|v| attribute(what, v)).transpose();
        let user = UserRecord {
            username: validate_username(&new.username)?,
            password_hash: new.password.as_deref().map(|p| self.hashing.hash(p)).transpose()?,
            disabled: false,
            roles: sorted("role", &new.roles)?,
            groups: sorted("group", &new.groups)?,
            tenant: optional("tenant", &new.tenant)?,
            email: optional("email", &new.email)?,
            name: optional("name", &new.name)?,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => AdminError::Conflict(format!("user {:?}", user.username)),
            other => other.into(),
        })?;
        Ok(user)
    }

    pub async fn list_users(&self) -> Result<Vec<UserRecord>, AdminError> {
        Ok(self.store.list_users().await?)
    }

    pub async fn get_user(&self, username: &str) -> Result<UserRecord, AdminError> {
        self.store.get_user(username).await?.ok_or_else(|| AdminError::NotFound(format!("user {username:?}")))
    }

    /// Deletes the user; their grants are revoked and their browser sessions end.
    pub async fn delete_user(&self, username: &str) -> Result<(), AdminError> {
        if self.store.delete_user(username).await? {
            crate::grant_admin::revoke_user_grants(self.store, username, self.clock.now()).await?;
            Ok(())
        } else {
            Err(AdminError::NotFound(format!("user {username:?}")))
        }
    }

    /// Applies `change` to the stored user and writes it back.
    async fn update(
        &self,
        username: &str,
        change: impl FnOnce(&mut UserRecord) -> Result<(), AdminError>,
    ) -> Result<UserRecord, AdminError> {
        let mut user = self.get_user(username).await?;
        change(&mut user)?;
        user.updated_at = self.clock.now();
        if !self.store.update_user(&user).await? {
            return Err(AdminError::NotFound(format!("user {username:?}")));
        }
        Ok(user)
    }

    /// Disabling a user revokes their grants at once (refresh tokens stop working on every
    /// node; access tokens turn inactive at introspection within `revocation_sync_interval`)
    /// and ends their browser sessions.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<UserRecord, AdminError> {
        let user = self
            .update(username, |u| {
                u.disabled = disabled;
                Ok(())
            })
            .await?;
        if disabled {
            crate::grant_admin::revoke_user_grants(self.store, username, self.clock.now()).await?;
        }
        Ok(user)
    }

    pub async fn set_password(&self, username: &str, password: &str) -> Result<UserRecord, AdminError> {
        let hash = self.hashing.hash(password)?;
        self.update(username, |u| {
            u.password_hash = Some(hash);
            Ok(())
        })
        .await
    }

    pub async fn add_role(&self, username: &str, role: &str) -> Result<UserRecord, AdminError> {
        let role = attribute("role", role)?;
        self.update(username, |u| {
            u.roles = sorted("role", &[u.roles.clone(), vec![role]].concat())?;
            Ok(())
        })
        .await
    }

    pub async fn remove_role(&self, username: &str, role: &str) -> Result<UserRecord, AdminError> {
        self.update(username, |u| {
            if !u.roles.iter().any(|r| r == role) {
                return Err(AdminError::NotFound(format!("role {role:?} of user {:?}", u.username)));
            }
            u.roles.retain(|r| r != role);
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        // Cheap parameters: the test is about the round trip, not the cost.
        let hashing = PasswordHashing { memory_kib: 64, iterations: 1, parallelism: 1 };
        let hash = hashing.hash("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        assert!(hashing.verify("correct horse battery", &hash));
        assert!(!hashing.verify("correct horse battery!", &hash));
        assert!(!hashing.verify("correct horse battery", "not a phc string"));
        assert_ne!(hash, hashing.hash("correct horse battery").unwrap(), "a fresh salt each time");
        assert!(hashing.hash("short").is_err());
        assert!(hashing.hash(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        let default = PasswordHashing::default();
        assert_eq!((default.memory_kib, default.iterations, default.parallelism), (19456, 2, 1));
    }
}
