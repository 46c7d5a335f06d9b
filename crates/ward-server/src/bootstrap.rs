//! From a `Config` to a ready `AuthorizationServer`: the data directory, the store and its
//! migrations, the key-encryption key, the signing keys.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use ward_config::Config;
use ward_core::{Clock, Entropy};
use ward_oauth::keys::KeyManagerError;
use ward_oauth::users::PasswordHashing;
use ward_oauth::{AuthorizationServer, ClaimNames, Settings, SignInSettings};
use ward_store::{SqlStore, StoreError};
use ward_token::KeyEncryptionKey;
use ward_token::kek::KekError;

/// The file in the data directory holding a generated key-encryption key.
pub const KEK_FILE: &str = "kek";

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("cannot open the database {url}: {source}")]
    Connect { url: String, source: StoreError },
    #[error("database migration failed: {0}")]
    Migrate(StoreError),
    #[error("key_encryption_key: {0}")]
    Kek(KekError),
    #[error("key-encryption key file {path}: {source}")]
    KekFile { path: String, source: std::io::Error },
    #[error("signing keys: {0}")]
    Keys(#[from] KeyManagerError),
}

/// Connects to the configured database and brings its schema up to date.
pub async fn open_store(config: &Config) -> Result<SqlStore, BootError> {
    let url = config.database_url();
    if url.is_sqlite() {
        ensure_dir(&config.data_dir)?;
    }
    let store =
        SqlStore::connect(url.expose()).await.map_err(|source| BootError::Connect { url: url.redacted(), source })?;
    store.migrate().await.map_err(BootError::Migrate)?;
    Ok(store)
}

/// The key-encryption key: from configuration, else from `<data_dir>/kek`, else generated
/// into that file (mode 0600) with a warning that it should be backed up or configured.
pub fn load_kek(config: &Config, entropy: &dyn Entropy) -> Result<KeyEncryptionKey, BootError> {
    if let Some(secret) = &config.key_encryption_key {
        return KeyEncryptionKey::from_base64(secret.expose()).map_err(BootError::Kek);
    }
    let path = config.data_dir.join(KEK_FILE);
    let file_err = |source| BootError::KekFile { path: path.display().to_string(), source };
    match std::fs::read_to_string(&path) {
        Ok(text) => return KeyEncryptionKey::from_base64(&text).map_err(BootError::Kek),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(file_err(e)),
        Err(_) => {}
    }
    ensure_dir(&config.data_dir)?;
    let text = KeyEncryptionKey::generate_base64(entropy);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(file_err)?;
            tracing::warn!(
                path = %path.display(),
                "no key_encryption_key configured: generated one into the data directory; \
                 back it up, or set WARD_KEY_ENCRYPTION_KEY, or signing keys cannot be decrypted"
            );
            KeyEncryptionKey::from_base64(&text).map_err(BootError::Kek)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path).map_err(file_err)?;
            KeyEncryptionKey::from_base64(&text).map_err(BootError::Kek)
        }
        Err(e) => Err(file_err(e)),
    }
}

pub fn settings(config: &Config) -> Settings {
    Settings {
        issuer: config.issuer.clone(),
        audience: config.tokens.audience.clone(),
        access_token_ttl: config.tokens.access_token_ttl,
        signing_alg: config.tokens.signing_alg,
        client_cache_ttl: config.tokens.client_cache_ttl,
        max_assertion_lifetime: config.tokens.max_assertion_lifetime,
        revocation_sync_interval: config.tokens.revocation_sync_interval,
        key_publish_ahead: config.tokens.key_publish_ahead,
        key_reload_interval: config.tokens.key_reload_interval,
        claims: claim_names(&config.tokens.claims),
        sign_in: SignInSettings {
            session_ttl: config.sign_in.session_ttl,
            authorization_code_ttl: config.sign_in.authorization_code_ttl,
            pushed_request_ttl: config.sign_in.pushed_request_ttl,
            refresh_token_ttl: config.sign_in.refresh_token_ttl,
            grant_lifetime: config.sign_in.grant_lifetime,
            refresh_reuse_grace: config.sign_in.refresh_reuse_grace,
            device_code_ttl: config.sign_in.device_code_ttl,
            device_poll_interval: config.sign_in.device_poll_interval,
        },
        passwords: password_hashing(config),
    }
}

fn claim_names(c: &ward_config::ClaimNames) -> ClaimNames {
    ClaimNames {
        roles: c.roles.clone(),
        groups: c.groups.clone(),
        tenant: c.tenant.clone(),
        email: c.email.clone(),
        name: c.name.clone(),
        preferred_username: c.preferred_username.clone(),
    }
}

/// The configured argon2id cost.
pub fn password_hashing(config: &Config) -> PasswordHashing {
    let p = config.passwords;
    PasswordHashing { memory_kib: p.memory_kib, iterations: p.iterations, parallelism: p.parallelism }
}

/// Store, migrations, key-encryption key and signing keys: everything `serve` needs.
pub async fn start_issuer(
    config: &Config,
    clock: Arc<dyn Clock>,
    entropy: Arc<dyn Entropy>,
) -> Result<AuthorizationServer<SqlStore>, BootError> {
    let store = open_store(config).await?;
    let kek = load_kek(config, entropy.as_ref())?;
    Ok(AuthorizationServer::start(store, settings(config), kek, clock, entropy).await?)
}

/// Creates the data directory readable by its owner only: it holds the database and perhaps
/// the key-encryption key. One that already exists with looser permissions is tightened to
/// 0700, with a warning; if that is not possible, Ward refuses to start and says how to fix it.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), BootError> {
    let failed = |source| BootError::DataDir { path: dir.display().to_string(), source };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(failed)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir).map_err(failed)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
                failed(std::io::Error::new(
                    e.kind(),
                    format!(
                        "it is readable by others (mode {mode:o}) and cannot be tightened ({e}); run chmod 700 on it"
                    ),
                ))
            })?;
            tracing::warn!(path = %dir.display(), was = %format!("{mode:o}"), "tightened the data directory to 0700");
        }
    }
    Ok(())
}
