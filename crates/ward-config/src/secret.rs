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

    /// The URL with any `user:password@` password replaced, and query parameters that may
    /// carry a password (`password=`) dropped.
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
            let kept: Vec<&str> = q.split('&').filter(|kv| !kv.to_ascii_lowercase().starts_with("password=")).collect();
            if !kept.is_empty() {
                out.push('?');
                out.push_str(&kept.join("&"));
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
        assert_eq!(shown, "postgres://ward:<redacted>@db.internal:5432/ward?sslmode=require");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(DatabaseUrl::new("sqlite://./ward-data/ward.db").redacted(), "sqlite://./ward-data/ward.db");
        assert_eq!(DatabaseUrl::new("postgres://ward@h/db").redacted(), "postgres://ward@h/db");
    }
}
