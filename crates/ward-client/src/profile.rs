//! Profiles: where to sign in and which gates to reach. `$WARD_CLIENT_CONFIG`, else
//! `$XDG_CONFIG_HOME/ward/config.toml`, else `~/.config/ward/config.toml`; a missing file means
//! the built-in `default` profile, which fits a local `ward serve` and its `ward-cli` client.
//!
//! ```toml
//! [profiles.default]
//! issuer = "https://id.example.com"
//! client_id = "ward-cli"
//! scopes = ["openid", "profile", "email", "offline_access"]
//! # audience = "https://api.example.com"   # for issuers that need one (Auth0)
//!
//! [profiles.default.gates.app]
//! host = "db-gate.example.com"
//! port = 6432
//! database = "app"
//! sslmode = "verify-full"
//! sslrootcert = "/etc/ssl/gate-ca.pem"
//!
//! [profiles.default.redis.cache]
//! host = "cache-gate.example.com"
//! port = 6380
//! tls = true
//! cacert = "/etc/ssl/gate-ca.pem"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::{ClientError, Result};

pub const DEFAULT_PROFILE: &str = "default";
pub const DEFAULT_ISSUER: &str = "http://localhost:8080";
pub const DEFAULT_CLIENT: &str = "ward-cli";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Profile {
    #[serde(skip)]
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
    /// PostgreSQL gates by name.
    pub gates: BTreeMap<String, PgGate>,
    /// Redis gates by name.
    pub redis: BTreeMap<String, RedisGate>,
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            name: DEFAULT_PROFILE.into(),
            issuer: DEFAULT_ISSUER.into(),
            client_id: DEFAULT_CLIENT.into(),
            scopes: ["openid", "profile", "email", "offline_access"].map(String::from).to_vec(),
            audience: None,
            gates: BTreeMap::new(),
            redis: BTreeMap::new(),
        }
    }
}

/// How to reach a PostgreSQL gate, in libpq's terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PgGate {
    pub host: String,
    pub port: u16,
    pub database: String,
    /// The PostgreSQL user name sent; the gate takes the identity from the token, so it only
    /// names the session. Default: the signed-in subject.
    pub user: Option<String>,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
}

impl Default for PgGate {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 6432,
            database: "postgres".into(),
            user: None,
            sslmode: None,
            sslrootcert: None,
        }
    }
}

/// How to reach a Redis gate, in redis-cli's terms.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisGate {
    pub host: String,
    pub port: u16,
    /// TLS from the first byte (the gate has a certificate).
    pub tls: bool,
    /// The CA that signed the gate's certificate, when it is not in the system's store.
    pub cacert: Option<String>,
}

impl Default for RedisGate {
    fn default() -> Self {
        Self { host: "127.0.0.1".into(), port: 6380, tls: false, cacert: None }
    }
}

/// What the command line overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub profile: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

/// The client configuration file's path.
pub fn config_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WARD_CLIENT_CONFIG") {
        return Some(PathBuf::from(path));
    }
    base_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("ward").join("config.toml"))
}

/// `$VAR`, else `$HOME/<fallback>`.
pub(crate) fn base_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME").map(|home| PathBuf::from(home).join(fallback)),
    }
}

/// The profile to use: from the file (if any) with the command line's overrides.
pub fn load(path: Option<&Path>, overrides: &Overrides) -> Result<Profile> {
    let file = match path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str::<File>(&text)
                .map_err(|e| ClientError::Config(format!("{}: {}", path.display(), e.message())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => return Err(ClientError::Config(format!("{}: {e}", path.display()))),
        },
        None => File::default(),
    };
    let name = overrides.profile.clone().unwrap_or_else(|| DEFAULT_PROFILE.into());
    let mut profile = match file.profiles.get(&name) {
        Some(p) => p.clone(),
        None if name == DEFAULT_PROFILE => Profile::default(),
        None => {
            let known: Vec<&str> = file.profiles.keys().map(String::as_str).collect();
            return Err(ClientError::Config(format!(
                "no profile {name:?} (known: {})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            )));
        }
    };
    profile.name = name;
    if let Some(issuer) = &overrides.issuer {
        profile.issuer.clone_from(issuer);
    }
    if let Some(client) = &overrides.client_id {
        profile.client_id.clone_from(client);
    }
    if overrides.audience.is_some() {
        profile.audience.clone_from(&overrides.audience);
    }
    profile.issuer = profile.issuer.trim_end_matches('/').to_owned();
    if !(profile.issuer.starts_with("https://") || ward_core::loopback::is_loopback_http(&profile.issuer)) {
        return Err(ClientError::Config(format!(
            "issuer {:?} must be https (plain http only to this machine)",
            profile.issuer
        )));
    }
    if profile.name.is_empty() || !profile.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(ClientError::Config("a profile name is letters, digits, '-', '_' and '.'".into()));
    }
    Ok(profile)
}

impl Profile {
    /// The PostgreSQL gate named `name`, or the only one, or the built-in local one when none
    /// is configured.
    pub fn gate(&self, name: Option<&str>) -> Result<PgGate> {
        pick(&self.name, "gate", &self.gates, name)
    }

    /// The Redis gate named `name`, by the same rules.
    pub fn redis_gate(&self, name: Option<&str>) -> Result<RedisGate> {
        pick(&self.name, "Redis gate", &self.redis, name)
    }
}

fn pick<G: Clone + Default>(profile: &str, kind: &str, gates: &BTreeMap<String, G>, name: Option<&str>) -> Result<G> {
    match name {
        Some(n) => {
            gates.get(n).cloned().ok_or_else(|| ClientError::Config(format!("profile {profile:?} has no {kind} {n:?}")))
        }
        None if gates.len() <= 1 => Ok(gates.values().next().cloned().unwrap_or_default()),
        None => Err(ClientError::Config(format!(
            "profile {profile:?} has several {kind}s; name one: {}",
            gates.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_files_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let none = load(Some(&dir.path().join("missing.toml")), &Overrides::default()).unwrap();
        assert_eq!((none.issuer.as_str(), none.client_id.as_str()), (DEFAULT_ISSUER, DEFAULT_CLIENT));
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[profiles.work]\nissuer = \"https://id.example.com/\"\nclient_id = \"cli\"\n[profiles.work.gates.app]\nhost = \"gate\"\ndatabase = \"app\"\n",
        )
        .unwrap();
        let work = load(Some(&path), &Overrides { profile: Some("work".into()), ..Default::default() }).unwrap();
        assert_eq!(work.issuer, "https://id.example.com");
        assert_eq!(work.gate(None).unwrap().host, "gate");
        assert!(work.gate(Some("nope")).is_err());
        assert_eq!(work.redis_gate(None).unwrap(), RedisGate::default());
        assert!(work.redis_gate(Some("cache")).is_err());
        let over =
            Overrides { profile: Some("work".into()), issuer: Some("http://127.0.0.1:9".into()), ..Default::default() };
        assert_eq!(load(Some(&path), &over).unwrap().issuer, "http://127.0.0.1:9");
        let err = load(Some(&path), &Overrides { profile: Some("home".into()), ..Default::default() }).unwrap_err();
        assert!(err.to_string().contains("known: work"), "{err}");
        let plain = Overrides { issuer: Some("http://id.example.com".into()), ..Default::default() };
        assert!(load(None, &plain).is_err(), "plain http to another machine");
        std::fs::write(&path, "[profiles.x]\nisuer = \"typo\"\n").unwrap();
        assert!(load(Some(&path), &Overrides::default()).unwrap_err().to_string().contains("isuer"));
    }
}
