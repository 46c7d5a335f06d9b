//! `/query` with bad input and a hostile caller: a read scope that tries every way to write,
//! limits on bodies and results, and tokens that are missing, wrong or expired. Each gets a
//! clear error, and changes nothing.

use serde_json::json;

use crate::{answer, start, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_scope_cannot_write_by_any_statement() {
    let api = start(false, "").await;
    // A writer's account and roles, but only the read scope: the transaction is READ ONLY.
    let token = api.token("erin", &["writer"], "database:read");
    let title = unique("sneaky");
    let insert = format!("insert into posts (tenant_id, owner_id, title) values ('acme', 'erin', '{title}')");
    // A function that writes, installed behind the API's back.
    let (admin, connection) = tokio_postgres::connect(&api.db.superuser_url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    admin
        .batch_execute(&format!(
            "create or replace function public.add_post_{fn_name}(t text) returns int language sql as \
             $$ insert into posts (tenant_id, owner_id, title) values ('acme', 'erin', t) returning id $$; \
             grant execute on function public.add_post_{fn_name}(text) to public",
            fn_name = title.rsplit(' ').next().unwrap()
        ))
        .await
        .unwrap();
    let function = format!("select public.add_post_{}($1)", title.rsplit(' ').next().unwrap());
    let attempts: Vec<(String, Vec<serde_json::Value>, &[&str])> = vec![
        (insert.clone(), vec![], &["25006"]),
        (format!("with w as ({insert} returning id) select * from w"), vec![], &["25006"]),
        (function, vec![json!(title)], &["25006"]),
        ("copy posts from stdin".into(), vec![], &["25006", "0A000"]),
        (format!("commit; {insert}"), vec![], &["42601"]),
        (format!("select 1; {insert}"), vec![], &["42601"]),
        ("select set_config('transaction_read_only', 'off', false)".into(), vec![], &["25001"]),
        (format!("do $$ begin set transaction read write; {insert}; end $$"), vec![], &["25001"]),
        ("set role svc_admin".into(), vec![], &["42501"]),
    ];
    for (sql, params, codes) in attempts {
        let a = api.query(&token, &sql, json!(params)).await;
        let code = a.body["sqlstate"].as_str().unwrap_or_default().to_owned();
        assert!(codes.contains(&code.as_str()), "{sql}: {} {:?}", a.status, a.body);
        if code == "25006" {
            // Writing is what the read scope lacks, and the challenge names the write scope.
            assert_eq!(a.status, 403, "{sql}");
            assert!(
                a.challenge
                    .as_deref()
                    .unwrap_or_default()
                    .contains(r#"error="insufficient_scope", scope="database:write""#)
            );
        }
    }
    // Statements that end the transaction or change its mode run alone, and write nothing.
    let alone = [
        "commit",
        "commit and chain",
        "begin",
        "rollback",
        "set transaction read write",
        "begin read write",
        "start transaction isolation level read committed, read write",
        "set session characteristics as transaction read write",
    ];
    for sql in alone {
        let a = api.query(&token, sql, json!([])).await;
        assert_eq!(a.status, 200, "{sql}: {:?}", a.body);
    }
    assert_eq!(api.posts_titled(&title).await, 0);
    let a = api.query(&token, "select current_setting('transaction_read_only') as ro", json!([])).await;
    assert_eq!(a.body["rows"], json!([{"ro": "on"}]), "the next request is read-only again");
    // A role the account may take is taken for that statement's transaction only.
    let a = api.query(&token, "set role writer_group", json!([])).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let a = api.query(&token, "select current_user as u", json!([])).await;
    assert_eq!(a.body["rows"], json!([{"u": "svc_writer"}]));
    // And the copy out that COPY TO STDOUT would stream is refused without a trace.
    let a = api.query(&token, "copy posts to stdout", json!([])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (400, Some("0A000")), "{:?}", a.body);
    let a = api
        .query(&token, "select count(*) as n from posts where owner_id = 'erin' and title = $1", json!([title]))
        .await;
    assert_eq!(a.body["rows"], json!([{"n": 0}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_refuse_oversize_bodies_and_results_and_slow_statements() {
    let api = start(false, "pool_size = 1").await;
    let token = api.token("alice", &["reader"], "database:read");
    let a = api.query(&token, "select generate_series(1, 101) as n", json!([])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (400, Some("54000")), "{:?}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("max_rows"));
    let a = api.query(&token, "select repeat('x', 70000) as big", json!([])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (400, Some("54000")), "{:?}", a.body);
    assert!(a.body["message"].as_str().unwrap().contains("max_result_bytes"));
    let a = api.query(&token, "select pg_sleep(5)", json!([])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (504, Some("57014")), "{:?}", a.body);
    let a = api.query(&token, "select 1 as a, 2 as a", json!([])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (400, Some("42712")), "{:?}", a.body);
    let big = "x".repeat(5000);
    let a = api.query(&token, &format!("select '{big}'"), json!([])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (413, Some("request_too_large")), "{:?}", a.body);
    // After all that, the one connection still serves.
    let a = api.query(&token, "select 1 as one", json!([])).await;
    assert_eq!(a.body["rows"], json!([{"one": 1}]));

    // A write over a limit is rolled back.
    let writer = api.token("erin", &["writer"], "database:write");
    let title = unique("many new");
    let sql = "insert into posts (tenant_id, owner_id, title) select 'acme', 'erin', $1 from generate_series(1, 150) returning id";
    let a = api.query(&writer, sql, json!([title])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str()), (400, Some("54000")), "{:?}", a.body);
    assert_eq!(api.posts_titled(&title).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_and_bad_tokens_are_told_apart() {
    let api = start(false, "").await;
    let url = format!("{}/query", api.url);
    let body = json!({"query": "select 1"});
    let token = api.token("alice", &["reader"], "database:read");

    let a = answer(api.http.post(&url).json(&body).send().await.unwrap()).await;
    assert_eq!((a.status, a.challenge.as_deref()), (401, Some(r#"Bearer realm="ward""#)));
    let a = answer(api.http.post(&url).bearer_auth("not-a-jwt").json(&body).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_token")));
    assert!(a.challenge.unwrap().starts_with(r#"Bearer realm="ward", error="invalid_token""#));
    let expired = api
        .issuer
        .sign(&api.issuer.claims(
            "alice",
            &["reader"],
            json!({"scope": "database:read", "exp": 1_000_000, "iat": 999_000}),
        ))
        .unwrap();
    let a = api.query(&expired, "select 1", json!([])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_token")));
    let foreign = ward_testkit::oidc::FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let a = api.query(&foreign.token("alice", &["reader"]).unwrap(), "select 1", json!([])).await;
    assert_eq!(a.status, 401);

    let a = api.query(&api.token("alice", &["reader"], "openid"), "select 1", json!([])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (403, Some("insufficient_scope")));
    assert!(a.challenge.unwrap().contains(r#"error="insufficient_scope", scope="database:read""#));
    let a = api.query(&api.token("alice", &["nobody"], "database:read"), "select 1", json!([])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (403, Some("access_denied")));

    let send = |body: &'static str, content_type: &'static str| {
        api.http.post(&url).bearer_auth(&token).header("content-type", content_type).body(body).send()
    };
    let a = answer(send(r#"{"query": "select 1"}"#, "text/plain").await.unwrap()).await;
    assert_eq!(a.status, 415);
    let a = answer(send(r#"{"query": "select 1""#, "application/json").await.unwrap()).await;
    assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_request")));
    let a = answer(send(r#"{"query": "select 1", "parms": [1]}"#, "application/json").await.unwrap()).await;
    assert_eq!(a.status, 400);
    let a = answer(send(r#"{"query": "  "}"#, "application/json").await.unwrap()).await;
    assert_eq!(a.status, 400);
    let a = answer(send(r#"{"query": "-- only a comment"}"#, "application/json").await.unwrap()).await;
    assert_eq!(a.status, 400);
    let a = answer(send(r#"{"query": "select 1\u0000"}"#, "application/json").await.unwrap()).await;
    assert_eq!(a.status, 400);
    let a = api.query(&token, "selec 1", json!([])).await;
    assert_eq!((a.status, a.body["sqlstate"].as_str(), a.body["position"].as_u64()), (400, Some("42601"), Some(1)));
    let a = answer(api.http.get(format!("{}/nowhere", api.url)).send().await.unwrap()).await;
    assert_eq!(a.status, 404);
    let a = answer(api.http.get(&url).bearer_auth(&token).send().await.unwrap_or_else(|e| panic!("{e}"))).await;
    assert_eq!(a.status, 405);
}
