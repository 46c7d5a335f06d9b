//! The store's suite, run on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use ward_core::{ClientType, GrantType, RedirectUri, Scope, ScopeSet, SigningAlg, TokenEndpointAuthMethod};
use ward_store::{
    BrowserSession, ClientRecord, ClientStore, CodeRecord, CodeStore, GrantRecord, GrantStore, KeyStore,
    NewRefreshToken, PushedRequest, Redemption, ReplayStore, RevocationStore, ScopeStore, SessionStore, StoreError,
    StoredKey, SubjectKind, UserStore,
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
    grants_and_refresh_tokens,
    codes_and_pushed_requests_are_single_use,
    browser_sessions_and_consent,
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
    // The OpenID Connect scopes come with the schema.
    assert_eq!(names, ["db:read", "db:write", "email", "offline_access", "openid", "profile"]);
    assert!(s.delete_scope("db:read").await?);
    assert!(!s.delete_scope("db:read").await?);
    assert_eq!(s.list_scopes().await?.len(), 5);
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

fn grant(id: &str, subject: &str, kind: SubjectKind, created_at: i64) -> GrantRecord {
    GrantRecord {
        grant_id: id.into(),
        client_id: "app".into(),
        subject_kind: kind,
        subject: subject.into(),
        scopes: ScopeSet::parse("openid offline_access").unwrap(),
        auth_time: created_at,
        created_at,
        last_used_at: created_at,
        expires_at: created_at + 1000,
        revoked_at: None,
    }
}

async fn grants_and_refresh_tokens(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    s.insert_grant(&grant("g1", "alice", SubjectKind::User, 100)).await?;
    s.insert_grant(&grant("g2", "alice", SubjectKind::User, 200)).await?;
    s.insert_grant(&grant("c1", "app", SubjectKind::Client, 150)).await?;
    assert_eq!(s.get_grant("g1").await?.unwrap().scopes.to_string(), "offline_access openid");
    let ids: Vec<String> = s.grants_of_user("alice").await?.into_iter().map(|g| g.grant_id).collect();
    assert_eq!(ids, ["g2", "g1"], "newest first, the client grant is not alice's");
    assert_eq!(s.live_client_grant("app", 160).await?.unwrap().grant_id, "c1");
    assert!(s.live_client_grant("app", 2000).await?.is_none(), "expired");

    // A refresh token has one successor, whoever rotates it.
    let scopes = ScopeSet::parse("openid").unwrap();
    let token = |hash, created_at, parent| NewRefreshToken {
        token_hash: hash,
        grant_id: "g1",
        scopes: &scopes,
        created_at,
        expires_at: 900,
        parent_hash: parent,
    };
    assert!(s.insert_refresh_token(token("h1", 300, None)).await?);
    let found = s.get_refresh_token("h1").await?.unwrap();
    assert_eq!((found.grant.grant_id.as_str(), found.expires_at, found.rotated_at), ("g1", 900, None));
    assert!(found.user.is_none(), "no such user in this store");
    let (a, b) = tokio::join!(
        s.insert_refresh_token(token("h2", 310, Some("h1"))),
        s.insert_refresh_token(token("h3", 310, Some("h1")))
    );
    assert!(a? ^ b?, "exactly one successor");
    assert_eq!(s.get_refresh_token("h1").await?.unwrap().rotated_at, Some(310));
    assert!(s.insert_refresh_token(token("h4", 311, None)).await?, "a token beside it is fine");
    assert!(s.get_refresh_token("unknown").await?.is_none());
    // The grant's user comes with the token, and the newest token says when it was used.
    s.insert_user(&ward_store::UserRecord {
        username: "alice".into(),
        password_hash: None,
        disabled: false,
        roles: vec!["reader".into()],
        groups: vec![],
        tenant: None,
        email: None,
        name: None,
        created_at: 1,
        updated_at: 1,
    })
    .await?;
    assert_eq!(s.get_refresh_token("h4").await?.unwrap().user.unwrap().roles, ["reader"]);
    assert_eq!(s.grants_of_user("alice").await?.iter().find(|g| g.grant_id == "g1").unwrap().last_used_at, 311);

    // Revocation: of one grant, of every grant of a user; revoked grants are listed once since.
    assert!(s.revoke_grant("g1", 400).await?);
    assert!(!s.revoke_grant("g1", 401).await?, "already revoked");
    assert!(s.is_grant_revoked("g1").await? && !s.is_grant_revoked("g2").await?);
    assert_eq!(s.revoke_grants_of(SubjectKind::User, "alice", 500).await?, ["g2"]);
    assert!(s.revoke_grants_of(SubjectKind::User, "alice", 501).await?.is_empty());
    let mut since = s.grants_revoked_since(450).await?;
    since.sort();
    assert_eq!(since, [("g2".to_owned(), 500)]);
    assert!(!s.get_refresh_token("h1").await?.unwrap().grant.is_live(450));

    // Expired grants and their refresh tokens go, the rest stays.
    assert_eq!(s.purge_grants(1150).await?, 4, "g1 (expires 1100), and its three refresh tokens");
    assert!(s.get_grant("g1").await?.is_none() && s.get_grant("g2").await?.is_some());
    t.finish().await
}

fn code(grant_id: &str) -> CodeRecord {
    CodeRecord {
        grant_id: grant_id.into(),
        client_id: "app".into(),
        username: "alice".into(),
        redirect_uri: "https://app.example/cb".into(),
        code_challenge: Some("c".repeat(43)),
        nonce: Some("n".into()),
        scopes: ScopeSet::parse("openid").unwrap(),
        auth_time: 10,
        expires_at: 70,
    }
}

async fn codes_and_pushed_requests_are_single_use(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    s.insert_code("k1", &code("g1")).await?;
    assert!(matches!(s.insert_code("k1", &code("g9")).await, Err(StoreError::Conflict(_))));
    let (a, b) = tokio::join!(s.redeem_code("k1", 20), s.redeem_code("k1", 20));
    let outcomes = [a?, b?];
    assert_eq!(outcomes.iter().filter(|o| matches!(o, Redemption::Redeemed(c) if *c == code("g1"))).count(), 1);
    assert!(outcomes.contains(&Redemption::Replayed { grant_id: "g1".into() }), "the loser learns the grant to revoke");
    assert_eq!(s.redeem_code("nope", 20).await?, Redemption::Unknown);

    let request = PushedRequest { client_id: "app".into(), parameters: "response_type=code".into(), expires_at: 60 };
    s.insert_pushed_request("u1", &request).await?;
    assert_eq!(s.pushed_request("u1", 30).await?, Some(request.clone()), "reading does not use it");
    assert_eq!(s.pushed_request("u1", 30).await?, Some(request));
    assert!(s.pushed_request("u1", 60).await?.is_none(), "expired");
    let (a, b) = tokio::join!(s.use_pushed_request("u1", 40), s.use_pushed_request("u1", 40));
    assert!(a? ^ b?, "used once");
    assert!(s.pushed_request("u1", 41).await?.is_none());
    assert_eq!(s.purge_codes(100).await?, 2);
    t.finish().await
}

async fn browser_sessions_and_consent(backend: StoreBackend) -> anyhow::Result<()> {
    let t = TestStore::new(backend).await?;
    let s = &t.store;
    let session = BrowserSession { username: "alice".into(), auth_time: 5, created_at: 5, expires_at: 50 };
    s.insert_session("s1", &session).await?;
    s.insert_session("s2", &BrowserSession { expires_at: 500, ..session.clone() }).await?;
    assert_eq!(s.get_session("s1").await?, Some(session));
    s.delete_session("s1").await?;
    assert!(s.get_session("s1").await?.is_none());
    assert_eq!(s.delete_sessions_of("alice").await?, 1);
    assert_eq!(s.purge_sessions(1000).await?, 0);

    assert!(s.consent("alice", "app").await?.is_empty());
    s.save_consent("alice", "app", &ScopeSet::parse("openid").unwrap(), 1).await?;
    s.save_consent("alice", "app", &ScopeSet::parse("openid email").unwrap(), 2).await?;
    assert_eq!(s.consent("alice", "app").await?.to_string(), "email openid");
    assert!(s.consent("alice", "other").await?.is_empty());
    t.finish().await
}
