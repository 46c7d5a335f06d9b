//! `/query` as a client sees it: row-level security by identity, types as JSON, parameters,
//! writes, and what one request leaves for the next.

use serde_json::json;

use crate::{start, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_identity_sees_its_own_rows_through_one_service_account() {
    for extra in ["", "threads = 2"] {
        rows_by_identity(extra).await;
    }
}

async fn rows_by_identity(extra: &str) {
    let api = start(false, extra).await;
    let sql = "select title, current_user as account, ward.user_id() as signed from posts \
               where title not like '%new%' and title like $1 order by title";
    let alice = api.query(&api.token("alice", &["reader"], "database:read"), sql, json!(["%"])).await;
    assert_eq!(alice.status, 200, "{:?}", alice.body);
    assert_eq!(
        alice.body["rows"],
        json!([
            {"title": "alice 1", "account": "svc_reader", "signed": "alice"},
            {"title": "alice 2", "account": "svc_reader", "signed": "alice"},
        ])
    );
    assert_eq!((alice.body["row_count"].clone(), alice.body["command"].clone()), (json!(2), json!("SELECT")));
    let bob = api.query(&api.token("bob", &["reader"], "database:read"), sql, json!(["%"])).await;
    assert_eq!(bob.body["rows"], json!([{"title": "bob 1", "account": "svc_reader", "signed": "bob"}]));
    // A tenant admin sees the tenant's posts, and no other tenant's.
    let dana = api.query(&api.token("dana", &["admin"], "database:read"), sql, json!(["%"])).await;
    let titles: Vec<_> = dana.body["rows"].as_array().unwrap().iter().map(|r| r["title"].clone()).collect();
    assert_eq!(titles, [json!("alice 1"), json!("alice 2"), json!("bob 1")]);
    assert_eq!(dana.body["rows"][0]["account"], "svc_admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_types_map_to_json_faithfully() {
    let api = start(false, "").await;
    let token = api.token("alice", &["reader"], "database:read");
    let sql = r#"select 42::int4 as i4, 9007199254740993::int8 as i8, 3.14159265358979323846::numeric as n,
        1.5::float8 as f, 'NaN'::float8 as nan, true as b, '\x00ff41'::bytea as bytes,
        '2024-01-02 03:04:05.5+02'::timestamptz as tstz, '2024-01-02 03:04:05'::timestamp as ts,
        '2024-01-02'::date as d, '1 day 2 hours'::interval as iv, '{"a": [1, null]}'::jsonb as jb,
        '[1, 2]'::json as j, array['x', 'y z', null] as texts, '{{1,2},{3,4}}'::int[] as grid,
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as id, null::text as nothing,
        E'quote " backslash \\ newline \n é' as tricky, '127.0.0.1'::inet as addr"#;
    let a = api.query(&token, sql, json!([])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(
        a.body["rows"][0],
        json!({
            "i4": 42, "i8": 9007199254740993_i64, "n": "3.14159265358979323846", "f": 1.5, "nan": "NaN",
            "b": true, "bytes": "AP9B", "tstz": "2024-01-02T01:04:05.5+00:00", "ts": "2024-01-02T03:04:05",
            "d": "2024-01-02", "iv": "P1DT2H", "jb": {"a": [1, null]}, "j": [1, 2], "texts": ["x", "y z", null],
            "grid": [[1, 2], [3, 4]], "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "nothing": null,
            "tricky": "quote \" backslash \\ newline \n é", "addr": "127.0.0.1",
        })
    );
    let columns = a.body["columns"].as_array().unwrap();
    assert_eq!(columns[0], json!({"name": "i4", "type": "int4", "type_oid": 23}));
    assert_eq!(columns[13], json!({"name": "texts", "type": "_text", "type_oid": 1009}));
    // Column order is the statement's, in the raw body too.
    let raw = api
        .http
        .post(format!("{}/query", api.url))
        .bearer_auth(&token)
        .json(&json!({"query": "select 1 as zebra, 2 as apple"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(raw.contains(r#""rows":[{"zebra":1,"apple":2}]"#), "{raw}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_are_bound_never_spliced() {
    let api = start(false, "").await;
    let token = api.token("alice", &["reader"], "database:read");
    let a = api
        .query(
            &token,
            "select $1::text as t, $2::int + 1 as n, $3::text is null as missing",
            json!(["x'; drop table posts; --", 41, null]),
        )
        .await;
    assert_eq!(a.body["rows"], json!([{"t": "x'; drop table posts; --", "n": 42, "missing": true}]));
    let a = api.query(&token, "select $1::jsonb -> 'k' as v", json!([{"k": [1, 2]}])).await;
    assert_eq!(a.body["rows"], json!([{"v": [1, 2]}]));
    // A count that does not fit the statement: PostgreSQL's own error.
    let a = api.query(&token, "select $1::int, $2::int", json!([1])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (400, Some("08P01")), "{:?}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_writes_as_itself_and_row_level_security_holds() {
    let api = start(false, "").await;
    let token = api.token("erin", &["writer"], "database:read database:write");
    let title = unique("erin new");
    let a = api
        .query(
            &token,
            "insert into posts (tenant_id, owner_id, title) values ('acme', 'erin', $1) returning owner_id",
            json!([title]),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!((a.body["command"].as_str(), a.body["row_count"].as_u64()), (Some("INSERT"), Some(1)));
    assert_eq!(a.body["rows"], json!([{"owner_id": "erin"}]));
    assert_eq!(api.posts_titled(&title).await, 1);
    // Writing as someone else: the policy's WITH CHECK refuses, and nothing is written.
    let forged = unique("forged new");
    let a = api
        .query(&token, "insert into posts (tenant_id, owner_id, title) values ('acme', 'alice', $1)", json!([forged]))
        .await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (403, Some("42501")), "{:?}", a.body);
    assert_eq!(api.posts_titled(&forged).await, 0);
    // And the writer's UPDATE reaches only its own rows.
    let a = api.query(&token, "update posts set title = title where owner_id <> 'erin'", json!([])).await;
    assert_eq!((a.body["command"].as_str(), a.body["row_count"].as_u64()), (Some("UPDATE"), Some(0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_request_sets_does_not_reach_the_next() {
    // One connection per account: every request below shares it.
    let api = start(false, "pool_size = 1").await;
    let writer = api.token("erin", &["writer"], "database:write");
    let a = api
        .query(
            &writer,
            "select set_config('app.user_id', 'mallory', false) as s, set_config('search_path', 'nowhere', false) as p",
            json!([]),
        )
        .await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = api
        .query(&writer, "select current_setting('app.user_id') as u, current_setting('search_path') as p", json!([]))
        .await;
    assert_eq!(a.body["rows"], json!([{"u": "erin", "p": "\"$user\", public"}]));
    // Another identity on the same account's connection: its own identity, nothing of erin's.
    let other = api.token("frank", &["writer"], "database:write");
    let a = api
        .query(&other, "select current_setting('app.user_id') as u, pg_catalog.pg_backend_pid() > 0 as same", json!([]))
        .await;
    assert_eq!(a.body["rows"][0]["u"], "frank");
    // Session settings made in a read are rolled back with it.
    let reader = api.token("alice", &["reader"], "database:read");
    api.query(&reader, "select set_config('app.user_id', 'mallory', false)", json!([])).await;
    let a = api.query(&reader, "select current_setting('app.user_id') as u", json!([])).await;
    assert_eq!(a.body["rows"], json!([{"u": "alice"}]));
}
