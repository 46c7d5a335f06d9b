//! The token cache: `$XDG_CACHE_HOME/ward/tokens/<profile>.json` (else `~/.cache/…`), or under
//! `$WARD_CLIENT_CACHE`. The directory is 0700 and the file 0600; it is written to a temporary
//! file and renamed, so a crash never leaves half a token set. A file that others can read, or
//! that is not a token set, is refused with a way out rather than used or silently replaced.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{ClientError, Result};

/// What one sign-in left: the tokens and when the access token expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSet {
    pub issuer: String,
    pub client_id: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl std::fmt::Display for TokenSet {
    /// Never the tokens themselves.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tokens of {} from {} (expire at {})", self.client_id, self.issuer, self.expires_at)
    }
}

pub struct Cache {
    pub path: PathBuf,
}

impl Cache {
    pub fn for_profile(profile: &str) -> Result<Self> {
        let dir = match std::env::var_os("WARD_CLIENT_CACHE") {
            Some(dir) => PathBuf::from(dir),
            None => crate::profile::base_dir("XDG_CACHE_HOME", ".cache")
                .map(|d| d.join("ward").join("tokens"))
                .ok_or_else(|| ClientError::Config("neither XDG_CACHE_HOME nor HOME is set".into()))?,
        };
        Ok(Self { path: dir.join(format!("{profile}.json")) })
    }

    fn problem(&self, problem: impl Into<String>) -> ClientError {
        ClientError::Cache { path: self.path.display().to_string(), problem: problem.into() }
    }

    /// The cached tokens; `None` when there are none.
    pub fn load(&self) -> Result<Option<TokenSet>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.problem(e.to_string())),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&self.path).map_err(|e| self.problem(e.to_string()))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(self.problem(format!(
                    "others can read it (mode {:o}); its tokens may have leaked. Run `ward logout` to revoke them and delete it, or `chmod 600 {}` if you are sure",
                    mode & 0o777,
                    self.path.display()
                )));
            }
        }
        serde_json::from_str(&text).map(Some).map_err(|_| {
            self.problem(format!(
                "is not a token cache Ward wrote; delete it (rm {}) and run `ward login`",
                self.path.display()
            ))
        })
    }

    /// Writes the tokens atomically, owner-only.
    pub fn save(&self, tokens: &TokenSet) -> Result<()> {
        let dir = self.path.parent().ok_or_else(|| self.problem("has no directory"))?;
        make_private_dir(dir).map_err(|e| self.problem(format!("directory: {e}")))?;
        let json = serde_json::to_vec_pretty(tokens).map_err(|e| self.problem(e.to_string()))?;
        let tmp = self.path.with_extension(format!("json.{}.tmp", std::process::id()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options.open(&tmp).and_then(|mut file| {
            file.write_all(&json)?;
            file.sync_all()
        });
        if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &self.path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.problem(e.to_string()));
        }
        Ok(())
    }

    pub fn delete(&self) -> Result<bool> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.problem(e.to_string())),
        }
    }
}

/// Creates `dir` (and parents) readable by its owner only; tightens it if it exists.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if std::fs::metadata(dir)?.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn tokens() -> TokenSet {
        TokenSet {
            issuer: "https://id".into(),
            client_id: "ward-cli".into(),
            access_token: "at".into(),
            refresh_token: Some("rt".into()),
            id_token: None,
            expires_at: 10,
            scope: None,
        }
    }

    #[test]
    fn owner_only_atomic_and_refusing_what_it_cannot_trust() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache { path: dir.path().join("tokens").join("default.json") };
        assert_eq!(cache.load().unwrap(), None);
        cache.save(&tokens()).unwrap();
        assert_eq!(cache.load().unwrap(), Some(tokens()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&cache.path), mode(cache.path.parent().unwrap())), (0o600, 0o700));
        assert_eq!(std::fs::read_dir(cache.path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
        assert!(!tokens().to_string().contains("rt"), "Display never shows a token");

        std::fs::set_permissions(&cache.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = cache.load().unwrap_err().to_string();
        assert!(err.contains("others can read it (mode 644)") && err.contains("ward logout"), "{err}");
        std::fs::write(&cache.path, "{not json").unwrap();
        std::fs::set_permissions(&cache.path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(cache.load().unwrap_err().to_string().contains("is not a token cache"));
        assert!(cache.delete().unwrap());
        assert!(!cache.delete().unwrap());
    }
}
