//! `/command` as a client sees it: keys confined to the caller's namespace, scopes, the
//! commands that are refused, and replies as JSON.

use serde_json::json;

use crate::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_identity_has_its_own_keys() {
    let api = start(true, "").await;
    let redis = api.redis.as_ref().unwrap();
    let alice = api.token("alice", &["cache"], "cache:read cache:write");
    let bob = api.token("bob", &["cache"], "cache:read cache:write");
    let a = api.post("/command", &alice, json!({"command": "SET", "args": ["greeting", "hello"]})).await;
    assert_eq!(a.body, json!({"result": "OK", "command": "SET", "user": "alice"}));
    let a = api.post("/command", &alice, json!({"command": "get", "args": ["greeting"]})).await;
    assert_eq!(a.body["result"], "hello");
    let a = api.post("/command", &bob, json!({"command": "GET", "args": ["greeting"]})).await;
    assert_eq!(a.body["result"], json!(null), "bob's greeting is another key");
    assert_eq!(redis.command(&[b"GET", b"u:alice:greeting"]).unwrap(), b"$5\r\nhello\r\n");

    api.post("/command", &bob, json!({"command": "RPUSH", "args": ["list", "a", 7]})).await;
    let a = api.post("/command", &bob, json!({"command": "LRANGE", "args": ["list", 0, -1]})).await;
    assert_eq!(a.body["result"], json!(["a", "7"]));
    // Patterns match only inside the namespace, and keys come back without the prefix.
    let a = api.post("/command", &bob, json!({"command": "KEYS", "args": ["*"]})).await;
    assert_eq!(a.body["result"], json!(["list"]));
    let a = api.post("/command", &alice, json!({"command": "SCAN", "args": [0]})).await;
    assert_eq!(a.body["result"][1], json!(["greeting"]));
    // Moving a key moves it within the namespace, never into another.
    let a = api.post("/command", &alice, json!({"command": "RENAME", "args": ["greeting", "u:bob:list"]})).await;
    assert_eq!(a.body["result"], "OK");
    assert_eq!(redis.command(&[b"EXISTS", b"u:alice:u:bob:list"]).unwrap(), b":1\r\n");
    assert_eq!(redis.command(&[b"LLEN", b"u:bob:list"]).unwrap(), b":2\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_and_the_command_table_decide() {
    let api = start(true, "").await;
    let reader = api.token("alice", &["cache"], "cache:read");
    let a = api.post("/command", &reader, json!({"command": "GET", "args": ["k"]})).await;
    assert_eq!(a.status, 200);
    for (command, args) in
        [("SET", json!(["k", "v"])), ("DEL", json!(["k"])), ("INCR", json!(["n"])), ("EXPIRE", json!(["k", 1]))]
    {
        let a = api.post("/command", &reader, json!({"command": command, "args": args})).await;
        assert_eq!((a.status, a.body["error"].as_str()), (403, Some("insufficient_scope")), "{command}");
        assert!(a.challenge.as_deref().unwrap().contains(r#"scope="cache:write""#));
    }
    let none = api.token("alice", &["cache"], "database:read");
    let a = api.post("/command", &none, json!({"command": "GET", "args": ["k"]})).await;
    assert_eq!((a.status, a.body["error"].as_str()), (403, Some("insufficient_scope")));

    let writer = api.token("alice", &["cache"], "cache:read cache:write");
    for (command, args) in [
        ("FLUSHALL", json!([])),
        ("CONFIG", json!(["GET", "*"])),
        ("NOSUCH", json!([])),
        ("SORT", json!(["k", "BY", "w_*"])),
        ("EVAL", json!(["return redis.call('GET', 'u:bob:k')", 0])),
    ] {
        let a = api.post("/command", &writer, json!({"command": command, "args": args})).await;
        assert_eq!(a.status, 403, "{command}: {:?}", a.body);
        assert_eq!(a.body["error"], "NOPERM", "{command}");
    }
    for (command, args) in [
        ("MULTI", json!([])),
        ("SUBSCRIBE", json!(["news"])),
        ("BLPOP", json!(["q", 1])),
        ("XREAD", json!(["BLOCK", 10, "STREAMS", "s", "$"])),
        ("AUTH", json!(["token"])),
        ("GET k", json!([])),
    ] {
        let a = api.post("/command", &writer, json!({"command": command, "args": args})).await;
        assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_request")), "{command}: {:?}", a.body);
    }
    // Redis's own errors keep their code.
    api.post("/command", &writer, json!({"command": "SET", "args": ["s", "text"]})).await;
    let a = api.post("/command", &writer, json!({"command": "LPUSH", "args": ["s", "x"]})).await;
    assert_eq!((a.status, a.body["error"].as_str()), (400, Some("WRONGTYPE")));
    let a = api.post("/command", &writer, json!({"command": "GET", "args": [{"k": 1}]})).await;
    assert_eq!(a.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_as_json() {
    let api = start(true, "").await;
    let redis = api.redis.as_ref().unwrap();
    let writer = api.token("alice", &["cache"], "cache:read cache:write");
    api.post("/command", &writer, json!({"command": "HSET", "args": ["h", "f", "v"]})).await;
    let a = api.post("/command", &writer, json!({"command": "HGETALL", "args": ["h"]})).await;
    assert_eq!(a.body["result"], json!(["f", "v"]));
    let a = api.post("/command", &writer, json!({"command": "INCRBY", "args": ["n", 41]})).await;
    assert_eq!(a.body["result"], json!(41));
    redis.command(&[b"SET", b"u:alice:bin", b"\xff\x00"]).unwrap();
    let a = api.post("/command", &writer, json!({"command": "GET", "args": ["bin"]})).await;
    assert_eq!(a.body["result"], json!({"base64": "/wA="}));
    let a = api.post("/command", &writer, json!({"command": "XADD", "args": ["s", "1-1", "k", "v"]})).await;
    assert_eq!(a.body["result"], "1-1");
    let a = api.post("/command", &writer, json!({"command": "XREAD", "args": ["STREAMS", "s", "0"]})).await;
    assert_eq!(a.body["result"], json!([["s", [["1-1", ["k", "v"]]]]]));
    let a = api.post("/command", &writer, json!({"command": "ECHO", "args": ["hi"]})).await;
    assert_eq!(a.body["result"], "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_without_redis_has_no_command_endpoint() {
    let api = start(false, "").await;
    let token = api.token("alice", &["cache"], "cache:read");
    let a = api.post("/command", &token, json!({"command": "GET", "args": ["k"]})).await;
    assert_eq!((a.status, a.body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_connections_without_mixing_replies() {
    // On the test's runtime, and on two threads of the API's own.
    for extra in ["redis_connections = 2", "redis_connections = 2\nthreads = 2"] {
        concurrent_requests(extra).await;
    }
}

async fn concurrent_requests(extra: &str) {
    // Two connections for 200 concurrent requests of two identities: replies are pipelined,
    // and each must reach its own request.
    let api = std::sync::Arc::new(start(true, extra).await);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let api = api.clone();
        tasks.spawn(async move {
            let sub = if i % 2 == 0 { "alice" } else { "bob" };
            let token = api.token(sub, &["cache"], "cache:read cache:write");
            let value = format!("{sub}-{i}");
            let set = api.post("/command", &token, json!({"command": "SET", "args": [format!("k{i}"), value]})).await;
            assert_eq!(set.body["result"], "OK");
            let get = api.post("/command", &token, json!({"command": "GET", "args": [format!("k{i}")]})).await;
            assert_eq!(get.body["result"], json!(value), "request {i} got another's reply");
            assert_eq!(get.body["user"], sub);
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let redis = api.redis.as_ref().unwrap();
    assert_eq!(redis.command(&[b"GET", b"u:bob:k1"]).unwrap(), b"$5\r\nbob-1\r\n");
    assert_eq!(redis.command(&[b"EXISTS", b"u:alice:k1"]).unwrap(), b":0\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_redis_drops_is_opened_again() {
    let api = start(true, "redis_connections = 1").await;
    let redis = api.redis.as_ref().unwrap();
    let token = api.token("alice", &["cache"], "cache:read cache:write");
    let a = api.post("/command", &token, json!({"command": "SET", "args": ["k", "v"]})).await;
    assert_eq!(a.status, 200);
    // Redis closes every connection of the account's user.
    assert_eq!(redis.command(&[b"CLIENT", b"KILL", b"USER", b"svc_cache"]).unwrap(), b":1\r\n");
    // The request that finds the connection dead may fail, as "not available"; the next ones
    // get a fresh connection.
    let first = api.post("/command", &token, json!({"command": "GET", "args": ["k"]})).await;
    assert!(first.status == 200 || (first.status == 503 && first.body["error"] == "unavailable"), "{first:?}");
    let a = api.post("/command", &token, json!({"command": "GET", "args": ["k"]})).await;
    assert_eq!((a.status, a.body["result"].as_str()), (200, Some("v")));
}
