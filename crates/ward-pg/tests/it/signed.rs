//! The signed identity: what `ward.user_id()` and friends return, and what SQL cannot make
//! them return — forged settings, replays on another backend, roles that try to split,
//! keys that rotate.

use std::time::Duration;

use ward_config::Secret;
use ward_config::gate::{IdentityKeyConfig, PoolMode};
use ward_pg::gate::signed_identity::install_sql;
use ward_testkit::gate::{IDENTITY_KEY, IDENTITY_KEY_ID, gate_db};

use crate::{setup_with, sqlstate};

async fn superuser() -> tokio_postgres::Client {
    let db = gate_db().await.unwrap();
    let (client, connection) = tokio_postgres::connect(&db.superuser_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_settings_yield_no_rows_not_someone_elses() {
    for mode in [PoolMode::Session, PoolMode::Transaction] {
        let (issuer, gate) = setup_with(|c| c.pool_mode = mode).await;
        let bob = gate.connect("bob", &issuer.token("bob", &["reader"]).unwrap()).await.unwrap();
        let titles =
            "select coalesce(string_agg(title, ',' order by title), '') from posts where title not like '%new%'";
        assert_eq!(bob.query_one(titles, &[]).await.unwrap().get::<_, String>(0), "bob 1");
        // The plain settings are bob's to change; the policies do not read them.
        bob.batch_execute("set app.user_id = 'alice'; set app.roles = '{admin}'").await.unwrap();
        assert_eq!(bob.query_one(titles, &[]).await.unwrap().get::<_, String>(0), "bob 1", "{mode:?}");
        // A signed identity without the key: nobody, so no rows.
        let forged = r#"test1.0000000000000000000000000000000000000000000000000000000000000000.{"pid":0,"exp":9999999999,"user_id":"alice","tenant_id":"acme","roles":["admin"],"claims":{}}"#;
        let rows = bob
            .query(&format!("select set_config('ward.identity', $1, false), ({titles}), ward.user_id()"), &[&forged])
            .await
            .unwrap();
        assert_eq!(rows[0].get::<_, String>(1), "", "{mode:?}: a forged identity sees nothing");
        assert_eq!(rows[0].get::<_, Option<String>>(2), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_identity_replayed_on_another_backend_is_nobody() {
    let (issuer, gate) = setup_with(|c| c.pool_size = 2).await;
    let token = issuer.token("alice", &["reader"]).unwrap();
    let (first, second) = (gate.connect("alice", &token).await.unwrap(), gate.connect("alice", &token).await.unwrap());
    let signed: String = first.query_one("select current_setting('ward.identity')", &[]).await.unwrap().get(0);
    assert!(signed.starts_with("test1."), "{signed}");
    let pids: (i32, i32) = (
        first.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0),
        second.query_one("select pg_backend_pid()", &[]).await.unwrap().get(0),
    );
    assert_ne!(pids.0, pids.1);
    let replayed: Option<String> = second
        .query_one("select set_config('ward.identity', $1, false), ward.user_id()", &[&signed])
        .await
        .unwrap()
        .get(1);
    assert_eq!(replayed, None, "bound to the backend it was made for");
    // Tampering with any byte of the payload breaks the MAC.
    let tampered = signed.replace("\"alice\"", "\"alicf\"");
    let row = first.query_one("select set_config('ward.identity', $1, false), ward.user_id()", &[&tampered]).await;
    assert_eq!(row.unwrap().get::<_, Option<String>>(1), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_travel_as_an_array_a_comma_cannot_split() {
    let (issuer, gate) = setup_with(|_| {}).await;
    let token = issuer.token("mallory", &["reader", "x,admin"]).unwrap();
    let client = gate.connect("mallory", &token).await.unwrap();
    let row = client
        .query_one(
            "select ward.roles(), 'admin' = any (ward.roles()), \
                    current_setting('app.roles')::text[], 'admin' = any (current_setting('app.roles')::text[])",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, Vec<String>>(0), ["reader", "x,admin"]);
    assert!(!row.get::<_, bool>(1));
    assert_eq!(row.get::<_, Vec<String>>(2), ["reader", "x,admin"]);
    assert!(!row.get::<_, bool>(3));
    // And so the admin policy does not open: mallory sees no one else's posts.
    let others: i64 = client.query_one("select count(*) from posts", &[]).await.unwrap().get(0);
    assert_eq!(others, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_accounts_cannot_read_the_keys_or_replace_the_functions() {
    let (issuer, gate) = setup_with(|_| {}).await;
    let client = gate.connect("erin", &issuer.token("erin", &["admin"]).unwrap()).await.unwrap();
    for (sql, why) in [
        ("select * from ward.identity_keys", "read the keys"),
        ("create or replace function ward.user_id() returns text language sql as $$ select 'alice' $$", "replace"),
        ("create function ward.evil() returns text language sql as $$ select 'x' $$", "add"),
        ("alter function ward.identity() owner to svc_admin", "take over"),
    ] {
        let err = client.batch_execute(sql).await.unwrap_err();
        assert_eq!(sqlstate(&err), "42501", "{why}: {err}");
    }
    // A search_path pointing elsewhere first does not reach inside the SECURITY DEFINER
    // function: every name there is schema-qualified.
    client.batch_execute("set search_path = pg_temp, public").await.unwrap();
    client
        .batch_execute("create function pg_temp.sha256(bytea) returns bytea language sql as $$ select $1 $$")
        .await
        .unwrap();
    let who: Option<String> = client.query_one("select ward.user_id()", &[]).await.unwrap().get(0);
    assert_eq!(who.as_deref(), Some("erin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_without_a_gap() {
    let admin = superuser().await;
    let key = |id: &str, secret: &str| IdentityKeyConfig {
        id: id.into(),
        secret: Some(Secret::new(secret)),
        secret_env: None,
    };
    let installed = |ids: &[(&str, &str)]| {
        let mut keys = vec![(IDENTITY_KEY_ID.to_owned(), IDENTITY_KEY.as_bytes().to_vec())];
        keys.extend(ids.iter().map(|(id, s)| ((*id).to_owned(), s.as_bytes().to_vec())));
        install_sql(&keys)
    };
    const OLD: (&str, &str) = ("rot-old", "rotation-old-key-0123456789abcdef0123");
    const NEW: (&str, &str) = ("rot-new", "rotation-new-key-0123456789abcdef0123");
    // Step 1: the database knows the old key and the new one.
    admin.batch_execute(&installed(&[OLD, NEW])).await.unwrap();
    let (issuer, old_gate) = setup_with(|c| {
        if let Some(s) = c.signed_identity.as_mut() {
            s.keys = vec![key(OLD.0, OLD.1)];
        }
    })
    .await;
    let new_gate = ward_testkit::gate::TestGate::start(
        {
            let mut c = ward_testkit::gate::gate_config(gate_db().await.unwrap());
            if let Some(s) = c.signed_identity.as_mut() {
                s.keys = vec![key(NEW.0, NEW.1), key(OLD.0, OLD.1)];
            }
            c
        },
        vec![ward_testkit::gate::trust_fake(&issuer)],
    )
    .await
    .unwrap();
    let token = issuer.token("alice", &["reader"]).unwrap();
    let who = "select ward.user_id()";
    let (on_old, on_new) =
        (old_gate.connect("alice", &token).await.unwrap(), new_gate.connect("alice", &token).await.unwrap());
    // Step 2: gates move to the new key one by one; both kinds of session verify meanwhile.
    assert_eq!(on_old.query_one(who, &[]).await.unwrap().get::<_, Option<String>>(0).as_deref(), Some("alice"));
    assert_eq!(on_new.query_one(who, &[]).await.unwrap().get::<_, Option<String>>(0).as_deref(), Some("alice"));
    // Step 3: the old key goes; only identities signed with it stop verifying.
    admin.batch_execute(&installed(&[NEW])).await.unwrap();
    assert_eq!(on_new.query_one(who, &[]).await.unwrap().get::<_, Option<String>>(0).as_deref(), Some("alice"));
    assert_eq!(on_old.query_one(who, &[]).await.unwrap().get::<_, Option<String>>(0), None);
    admin.batch_execute(&installed(&[])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
}
