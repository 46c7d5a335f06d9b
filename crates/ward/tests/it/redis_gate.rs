//! J3 for Redis: a service gets a client-credentials token from Ward and uses it with
//! redis-cli through `ward serve`'s Redis gate; its keys live under its own prefix.

use std::process::Stdio;

use ward_testkit::redis::private_server;

use crate::Node;
use crate::gate::{serve, stop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ward_token_reaches_redis_through_redis_cli() {
    let redis = tokio::task::spawn_blocking(private_server).await.unwrap().unwrap();
    let acl: [&[u8]; 8] = [b"ACL", b"SETUSER", b"svc_cache", b"on", b">cache-pw", b"~*", b"&*", b"+@all"];
    assert_eq!(redis.command(&acl).unwrap(), b"+OK\r\n");
    let node = Node::new();
    let config = format!(
        r#"{head}
[[gate.redis]]
listen = "127.0.0.1:{port}"
upstream = {{ host = "127.0.0.1", port = {redis_port} }}
roles = [{{ role = "cache", account = "svc_cache" }}]
accounts.svc_cache = {{ password_env = "CACHE_PASSWORD" }}
"#,
        head = node.config_head(""),
        port = node.port,
        redis_port = redis.port,
    );
    let child = serve(node.dir.path(), &config, node.port, &[("CACHE_PASSWORD", "cache-pw")], Stdio::null()).await;
    node.admin(&["scope", "create", "cache:read"]);
    node.admin(&["scope", "create", "cache:write"]);
    let created = crate::json(&node.admin(&[
        "client",
        "create",
        "--name",
        "Worker",
        "--id",
        "worker",
        "--role",
        "cache",
        "--scope",
        "cache:read cache:write",
        "--json",
    ]));
    let token = node.client_credentials("worker", created["client_secret"].as_str().unwrap()).await;
    let port = node.port;

    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--no-auth-warning", "-a", &token])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(cli(&["SET", "progress", "42"]), "OK");
    assert_eq!(cli(&["GET", "progress"]), "42");
    assert!(cli(&["FLUSHALL"]).contains("NOPERM"));
    assert_eq!(redis.command(&[b"GET", b"u:worker:progress"]).unwrap(), b"$2\r\n42\r\n");
    stop(child).await;
}
