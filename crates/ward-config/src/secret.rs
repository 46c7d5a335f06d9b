//! Values that must never reach a log line or `ward check-config` output.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub const REDACTED: &str = "<redacted>";

/// A secret string. `Debug`, `Display` and `Serialize` print `<redacted>`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// Database URL parameters whose values are shown by [`DatabaseUrl::redacted`], spelled as
/// PostgreSQL and SQLite drivers read them (not percent-encoded).
const HARMLESS_PARAMETERS: &[&str] = &[
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "application_name",
    "statement-cache-capacity",
    "connect_timeout",
    "mode",
    "cache",
    "immutable",
];

/// A database URL. Printed with its password replaced, so operators still see where it points.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_postgres(&self) -> bool {
        self.0.starts_with("postgres://") || self.0.starts_with("postgresql://")
    }

    pub fn is_sqlite(&self) -> bool {
        self.0.starts_with("sqlite:")
    }

    /// The URL with any `user:password@` password replaced, and the value of every query
    /// parameter not known to be harmless (`sslmode`, `host`, `port`, …) replaced too: a
    /// password travels as `password=`, `sslpassword=`, `pass%77ord=` or in `options=`, and
    /// naming them all is a losing game.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let (base, query) = url.split_once('?').map_or((url.as_str(), None), |(b, q)| (b, Some(q)));
        let mut out = match base.split_once("://") {
            Some((scheme, rest)) => {
                let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
                let authority = match authority.rsplit_once('@') {
                    Some((userinfo, host)) => match userinfo.split_once(':') {
                        Some((user, _)) => format!("{user}:{REDACTED}@{host}"),
                        None => format!("{userinfo}@{host}"),
                    },
                    None => authority.to_owned(),
                };
                match path {
                    Some(p) => format!("{scheme}://{authority}/{p}"),
                    None => format!("{scheme}://{authority}"),
                }
            }
            None => base.to_owned(),
        };
        if let Some(q) = query {
            let shown: Vec<String> = q
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((name, _)) if HARMLESS_PARAMETERS.contains(&name) => kv.to_owned(),
                    Some((name, _)) => format!("{name}={REDACTED}"),
                    None => kv.to_owned(),
                })
                .collect();
            if !shown.is_empty() {
                out.push('?');
                out.push_str(&shown.join("&"));
            }
        }
        out
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{REDACTED}\""));
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn database_urls_keep_host_but_lose_password() {
        let u = DatabaseUrl::new("postgres://ward:s3cr%40t@db.internal:5432/ward?sslmode=require&password=x");
        let shown = u.redacted();
        assert_eq!(shown, "postgres://ward:<redacted>@db.internal:5432/ward?sslmode=require&password=<redacted>");
        for spelled in ["sslpassword=hunter2", "pass%77ord=hunter2", "PASSWORD=hunter2", "options=-c%20x%3Dhunter2"] {
            let shown = DatabaseUrl::new(format!("postgres://ward@h/db?{spelled}&port=5432")).redacted();
            assert!(!shown.contains("hunter2") && shown.ends_with("=<redacted>&port=5432"), "{shown}");
        }
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(DatabaseUrl::new("sqlite://./ward-data/ward.db").redacted(), "sqlite://./ward-data/ward.db");
        assert_eq!(DatabaseUrl::new("postgres://ward@h/db").redacted(), "postgres://ward@h/db");
    }
}
