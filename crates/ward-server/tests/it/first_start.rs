//! J1: a fresh installation gets an `admin` user and the `ward-cli` client, once.

use anyhow::Result;
use ward_core::ClientType;
use ward_oauth::users::PasswordHashing;
use ward_server::first_start::{ADMIN_USER, CLI_CLIENT, provision};
use ward_store::{ClientStore, UserStore};
use ward_testkit::{StoreBackend, TestIssuer};

ward_testkit::on_both_backends!(the_first_start_provisions_once);

async fn the_first_start_provisions_once(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let store = issuer.oauth.store();
    let entropy = ward_token::OsEntropy;
    let given = "a long given admin password".to_owned();
    // Two nodes starting together on one database.
    let (a, b) = tokio::join!(
        provision(&issuer.config, store, &issuer.clock, &entropy, Some(given.clone())),
        provision(&issuer.config, store, &issuer.clock, &entropy, Some("another node's password".into())),
    );
    a?;
    b?;
    let users = store.list_users().await?;
    assert_eq!(users.len(), 1, "one admin, whoever won");
    let admin = &users[0];
    assert_eq!((admin.username.as_str(), admin.roles.as_slice()), (ADMIN_USER, [ADMIN_USER.to_owned()].as_slice()));
    let hash = admin.password_hash.clone().unwrap_or_default();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let hashing = PasswordHashing::default();
    assert!(hashing.verify(&given, &hash) || hashing.verify("another node's password", &hash));

    let cli = store.get_client(CLI_CLIENT).await?.expect("ward-cli registered");
    assert_eq!(cli.client_type, ClientType::Public);
    assert!(cli.secret_hash.is_none());

    // Later starts change nothing.
    provision(&issuer.config, store, &issuer.clock, &entropy, Some("yet another password".into())).await?;
    assert_eq!(store.list_users().await?[0].password_hash.as_deref(), Some(hash.as_str()));
    issuer.stop().await
}
