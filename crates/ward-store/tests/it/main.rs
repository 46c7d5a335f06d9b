//! The store's suite, run on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use ward_core::{ClientType, GrantType, RedirectUri, Scope, ScopeSet, SigningAlg, TokenEndpointAuthMethod};
use ward_store::{
    ClientRecord, ClientStore, KeyStore, ReplayStore, RevocationStore, ScopeStore, StoreError, StoredKey,
};
use ward_testkit::{StoreBackend, TestStore};

ward_testkit::on_both_backends!(
    migrations_are_idempotent_and_newer_schemas_refused,
    clients_round_trip,
    scopes_round_trip,
    keys_rotate_and_stay_published,
    revocations,
    assertion_jtis_are_single_use,
    users_round_trip,
);

fn client(id: &str) -> ClientRecord {
    ClientRecord {
        sign_in: Default::default(),
        client_id: id.into(),
        name: format!("Client {id}"),
        client_type: ClientType::Confidential,
        grant_types: vec![GrantType::ClientCredentials],
        redirect_uris: vec![RedirectUri::parse("https://app.example/cb").unwrap()],
        scopes: ScopeSet::parse("db:read db:write").unwrap(),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        secret_hash: Some("ab".repeat(32)),
        jwks: None,
        jwks_uri: None,
        skip_consent: true,
        may_introspect: true,
        roles: vec!["reader".into(), "x,admin".into()],
        tenant: Some("acme".into()),
        created_at: 100,
        updated_at: 100,
    }
}

async fn migrations_are_idempotent_and_newer_schemas_refused(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    assert_eq!(t.store.schema_version().await?, ward_store::migrate::latest_version());
    assert!(t.store.migrate().await?.is_empty(), "second run applies nothing");

    // A newer ward wrote this database: this binary must refuse it, not guess.
    let other = ward_store::SqlStore::connect(&t.url).await?;
    sqlx_insert_version(&t.url, 999).await?;
    let err = other.check_schema().await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 999, .. }), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    assert!(matches!(other.migrate().await, Err(StoreError::SchemaTooNew { .. })));
    other.close().await;
    t.finish().await
}

async fn sqlx_insert_version(url: &str, version: i64) -> anyhow::Result<()> {
    let store = ward_store::SqlStore::connect(url).await?;
    store.record_schema_version_for_tests(version).await?;
    store.close().await;
    Ok(())
}

async fn clients_round_trip(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    let c = client("svc-a");
    s.insert_client(&c).await?;
    assert!(matches!(s.insert_client(&c).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.get_client("svc-a").await?, Some(c.clone()));
    assert_eq!(s.get_client("nobody").await?, None);

    let mut b = client("svc-b");
    b.client_type = ClientType::Public;
    b.auth_method = TokenEndpointAuthMethod::None;
    b.secret_hash = None;
    b.jwks_uri = Some("https://b.example/jwks".into());
    b.skip_consent = false;
    s.insert_client(&b).await?;
    let ids: Vec<String> = s.list_clients().await?.into_iter().map(|c| c.client_id).collect();
    assert_eq!(ids, ["svc-a", "svc-b"]);
    assert_eq!(s.get_client("svc-b").await?, Some(b));

    assert!(s.set_client_secret("svc-a", &"cd".repeat(32), 200).await?);
    let updated = s.get_client("svc-a").await?.unwrap();
    assert_eq!(updated.secret_hash.as_deref(), Some("cd".repeat(32).as_str()));
    assert_eq!(updated.updated_at, 200);
    assert!(!s.set_client_secret("nobody", "x", 200).await?);

    assert!(s.delete_client("svc-a").await?);
    assert!(!s.delete_client("svc-a").await?);
    assert_eq!(s.get_client("svc-a").await?, None);
    t.finish().await
}

async fn scopes_round_trip(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    s.insert_scope(&Scope::parse("db:read")?, "Read rows", 1).await?;
    s.insert_scope(&Scope::parse("db:write")?, "Write rows", 2).await?;
    assert!(matches!(s.insert_scope(&Scope::parse("db:read")?, "again", 3).await, Err(StoreError::Conflict(_))));
    let names: Vec<String> = s.list_scopes().await?.into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["db:read", "db:write"]);
    assert!(s.delete_scope("db:read").await?);
    assert!(!s.delete_scope("db:read").await?);
    assert_eq!(s.list_scopes().await?.len(), 1);
    t.finish().await
}

fn key(kid: &str, active: bool, created_at: i64) -> StoredKey {
    StoredKey {
        kid: kid.into(),
        alg: SigningAlg::ES256,
        sealed_private_key: format!("sealed-{kid}"),
        active,
        created_at,
        published_from: created_at,
        active_from: created_at,
        retired_at: None,
        publish_until: None,
    }
}

async fn keys_rotate_and_stay_published(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    assert!(s.insert_first_key(&key("k1", true, 10)).await?);
    // A second node starting at the same moment loses the race and must load k1 instead.
    assert!(!s.insert_first_key(&key("k1b", true, 10)).await?);
    let kids = |keys: Vec<StoredKey>| keys.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    assert_eq!(kids(s.published_keys(10).await?), ["k1"]);

    // Staged: published from 50, signing from 600.
    let staged = StoredKey { published_from: 50, active_from: 600, ..key("k2", true, 20) };
    s.rotate_key(&staged, 600 + 900).await?;
    let published = s.published_keys(21).await?;
    assert_eq!(kids(published.clone()), ["k2", "k1"], "a staged key is listed, latest active_from first");
    assert!(published[0].active && !published[1].active);
    assert_eq!((published[0].published_from, published[0].active_from), (50, 600));
    assert_eq!(published[1].retired_at, Some(600), "k1 signs until k2 takes over");
    assert_eq!(s.published_key("k2", 21).await?.map(|k| k.kid).as_deref(), Some("k2"));
    assert_eq!(kids(s.published_keys(600 + 901).await?), ["k2"], "k1 leaves the JWKS once its tokens expired");
    assert!(s.published_key("k1", 600 + 901).await?.is_none());
    assert!(s.published_key("nope", 21).await?.is_none());
    assert_eq!(s.list_keys().await?.len(), 2);
    t.finish().await
}

async fn revocations(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    assert!(!s.is_jti_revoked("j1").await?);
    s.revoke_jti("j1", 100, 50).await?;
    s.revoke_jti("j1", 100, 60).await?;
    s.revoke_jti("j2", 300, 50).await?;
    assert!(s.is_jti_revoked("j1").await?);
    let mut recent = s.revocations_since(50, 90).await?;
    recent.sort();
    assert_eq!(recent, [("j1".to_owned(), 100, 50), ("j2".to_owned(), 300, 50)]);
    assert_eq!(s.revocations_since(51, 90).await?, [], "nothing revoked since 51");
    assert_eq!(s.revocations_since(0, 150).await?, [("j2".to_owned(), 300, 50)], "expired tokens are not returned");
    assert_eq!(s.purge_revocations(200).await?, 1);
    assert!(!s.is_jti_revoked("j1").await?);
    assert!(s.is_jti_revoked("j2").await?);
    t.finish().await
}

async fn assertion_jtis_are_single_use(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    assert!(s.first_use_of_jti("c1", "j", 100).await?);
    assert!(!s.first_use_of_jti("c1", "j", 100).await?);
    assert!(s.first_use_of_jti("c2", "j", 100).await?, "jti is scoped to its client");
    // Two racing uses of one assertion: exactly one wins.
    let (a, b) = tokio::join!(s.first_use_of_jti("c1", "race", 100), s.first_use_of_jti("c1", "race", 100));
    assert!(a? ^ b?);
    assert_eq!(s.purge_jtis(150).await?, 3);
    t.finish().await
}

async fn users_round_trip(backend: StoreBackend) -> anyhow::Result<()> {
    use ward_store::{UserRecord, UserStore};
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    let ada = UserRecord {
        username: "ada".into(),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        disabled: false,
        roles: vec!["reader".into(), "x,admin".into()],
        groups: vec!["eng".into()],
        tenant: Some("acme".into()),
        email: Some("ada@example.com".into()),
        name: Some("Ada Lovelace".into()),
        created_at: 10,
        updated_at: 10,
    };
    assert!(!s.has_users().await?);
    s.insert_user(&ada).await?;
    assert!(s.has_users().await?);
    assert!(matches!(s.insert_user(&ada).await, Err(ward_store::StoreError::Conflict(_))));
    assert_eq!(s.get_user("ada").await?, Some(ada.clone()));
    let changed = UserRecord { disabled: true, roles: vec![], password_hash: None, updated_at: 20, ..ada.clone() };
    assert!(s.update_user(&changed).await?);
    assert_eq!(s.get_user("ada").await?, Some(changed));
    assert!(!s.update_user(&UserRecord { username: "nobody".into(), ..ada.clone() }).await?);
    assert_eq!(s.list_users().await?.len(), 1);
    assert!(s.delete_user("ada").await?);
    assert!(!s.delete_user("ada").await?);
    assert_eq!(s.get_user("ada").await?, None);
    t.finish().await
}
