//! What a fresh installation gets (journey J1): an `admin` user and the `ward-cli` client.
//!
//! The admin's password is `WARD_ADMIN_PASSWORD` when set, else random — shown once and never
//! logged: on the terminal when standard error is one, else (a container, a service manager,
//! whose standard error *is* the log) written to `<data_dir>/initial-admin-password` (0600),
//! with a warning naming the file. Nodes starting together on one database create the user
//! once: the database's unique key decides, and only the winner shows its password.

use std::io::{IsTerminal as _, Write as _};

use ward_config::Config;
use ward_core::{ClientType, Clock, Entropy, GrantType};
use ward_oauth::admin::{Admin, AdminError, NewClient};
use ward_oauth::users::{NewUser, UserAdmin};
use ward_store::{ClientStore, SqlStore, UserStore};

/// The first user's name and role.
pub const ADMIN_USER: &str = "admin";
/// The public client `ward login` uses.
pub const CLI_CLIENT: &str = "ward-cli";
/// The file that holds a generated admin password when there is no terminal to show it on.
pub const ADMIN_PASSWORD_FILE: &str = "initial-admin-password";
/// The environment variable that sets the admin password instead.
pub const ADMIN_PASSWORD_ENV: &str = "WARD_ADMIN_PASSWORD";

#[derive(Debug, thiserror::Error)]
pub enum FirstStartError {
    #[error(transparent)]
    Store(#[from] ward_store::StoreError),
    #[error("setting up the first user or client: {0}")]
    Admin(#[from] AdminError),
    #[error("writing the admin password to {path}: {source}")]
    File { path: String, source: std::io::Error },
}

/// Creates the `admin` user when there are no users at all, and registers `ward-cli` when it
/// is missing. `admin_password` is `WARD_ADMIN_PASSWORD`'s value, if set.
pub async fn provision(
    config: &Config,
    store: &SqlStore,
    clock: &dyn Clock,
    entropy: &dyn Entropy,
    admin_password: Option<String>,
) -> Result<(), FirstStartError> {
    if !store.has_users().await? {
        let given = admin_password.is_some();
        let password = admin_password.unwrap_or_else(|| ward_token::entropy::random_string(entropy, 18));
        let users = UserAdmin { store, clock, hashing: crate::bootstrap::password_hashing(config) };
        let new = NewUser {
            username: ADMIN_USER.into(),
            password: Some(password.clone()),
            roles: vec![ADMIN_USER.into()],
            ..NewUser::default()
        };
        match users.create_user(new).await {
            Ok(_) if given => tracing::info!(user = ADMIN_USER, "created the admin user with WARD_ADMIN_PASSWORD"),
            Ok(_) => show_once(config, &password)?,
            // Another node created it first.
            Err(AdminError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if store.get_client(CLI_CLIENT).await?.is_none() {
        let admin = Admin { store, clock, entropy };
        let new = NewClient {
            client_id: Some(CLI_CLIENT.into()),
            name: "Ward CLI".into(),
            client_type: ClientType::Public,
            // The browser with PKCE, or device codes where there is no browser (and for psql 18).
            grant_types: Some(vec![GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::DeviceCode]),
            // RFC 8252 §7.3: a loopback redirect, any port.
            redirect_uris: vec!["http://127.0.0.1/callback".into(), "http://[::1]/callback".into()],
            scopes: ward_core::ScopeSet::parse("openid profile email offline_access").unwrap_or_default(),
            auth_method: None,
            jwks: None,
            jwks_uri: None,
            skip_consent: true,
            may_introspect: false,
            roles: Vec::new(),
            tenant: None,
            sign_in: Default::default(),
        };
        match admin.create_client(new).await {
            Ok(_) => tracing::info!(client_id = CLI_CLIENT, "registered the ward-cli client"),
            Err(AdminError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn show_once(config: &Config, password: &str) -> Result<(), FirstStartError> {
    let mut stderr = std::io::stderr();
    if stderr.is_terminal() {
        let _ = writeln!(
            stderr,
            "\n  Ward created the user `{ADMIN_USER}` with the password\n\n      {password}\n\n  It is shown this once. \
             Change it with `ward admin user set-password {ADMIN_USER}`.\n"
        );
        return Ok(());
    }
    let path = config.data_dir.join(ADMIN_PASSWORD_FILE);
    let failed = |source| FirstStartError::File { path: path.display().to_string(), source };
    crate::bootstrap::ensure_dir(&config.data_dir).map_err(|e| failed(std::io::Error::other(e.to_string())))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(failed)?;
    writeln!(file, "{password}").map_err(failed)?;
    tracing::warn!(
        user = ADMIN_USER,
        path = %path.display(),
        "created the admin user; its password is in this file (no terminal to show it on): read it, delete the file"
    );
    Ok(())
}
