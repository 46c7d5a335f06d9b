//! J3 for Redis: a service gets a client-credentials token from Ward and uses it with
//! redis-cli through `ward serve`'s Redis gate; its keys live under its own prefix.

use ward_testkit::redis::private_server;

use crate::Node;
use crate::gate::{serve, stop};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ward_token_reaches_redis_through_redis_cli() {
    let redis = tokio::task::spawn_blocking(private_server).await.unwrap().unwrap();
    redis.add_gate_account().unwrap();
    let node = Node::new();
    let config = format!(
        r#"{head}
[[gate.redis]]
listen = "127.0.0.1:{port}"
upstream = {{ host = "127.0.0.1", port = {redis_port} }}
roles = [{{ role = "cache", account = "svc_cache" }}]
accounts.svc_cache = {{ password_env = "CACHE_PASSWORD" }}
audit_commands = true
"#,
        head = node.config_head(""),
        port = node.port,
        redis_port = redis.port,
    );
    let log_path = node.dir.path().join("ward.log");
    let env = [("CACHE_PASSWORD", "cache-pw"), ("WARD_LOG__FORMAT", "json")];
    let child =
        serve(node.dir.path(), &config, node.port, &env, std::fs::File::create(&log_path).unwrap().into()).await;
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

    // `ward redis-cli` with a profile naming this gate and a cached token: the token travels in
    // REDISCLI_AUTH, never on redis-cli's command line.
    let home = tempfile::tempdir().unwrap();
    let issuer = node.issuer.clone();
    std::fs::create_dir_all(home.path().join("config/ward")).unwrap();
    std::fs::write(
        home.path().join("config/ward/config.toml"),
        format!("[profiles.default]\nissuer = \"{issuer}\"\nclient_id = \"worker\"\n[profiles.default.redis.cache]\nport = {port}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join("cache/ward/tokens")).unwrap();
    let cached = serde_json::json!({
        "issuer": issuer, "client_id": "worker", "access_token": token, "refresh_token": null,
        "id_token": null, "expires_at": i64::MAX / 2, "scope": "cache:read cache:write",
    });
    let cache_file = home.path().join("cache/ward/tokens/default.json");
    std::fs::write(&cache_file, cached.to_string()).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&cache_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(cache_file.parent().unwrap(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ward"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env_remove("WARD_PROFILE")
        .args(["redis-cli", "--", "GET", "progress"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42", "{}", String::from_utf8_lossy(&out.stderr));
    stop(child).await;

    // audit_commands: a line per command with its name, never its arguments or the token.
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let statements: Vec<&str> = logs.lines().filter(|l| l.contains(r#"\"event\":\"statement\""#)).collect();
    let set = statements.iter().find(|l| l.contains(r#"\"statement\":\"SET\""#)).expect("SET audited");
    assert!(set.contains(r#"\"protocol\":\"redis\""#) && set.contains(r#"\"outcome\":\"ok\""#), "{set}");
    assert!(set.contains(r#"\"account\":\"svc_cache\""#) && set.contains(r#"\"sub\":\"worker\""#), "{set}");
    let refused = statements.iter().find(|l| l.contains(r#"\"statement\":\"FLUSHALL\""#)).expect("FLUSHALL audited");
    assert!(refused.contains(r#"\"sqlstate\":\"NOPERM\""#), "{refused}");
    assert!(
        statements.iter().all(|l| !l.contains("progress") && !l.contains(r#"\"42\""#)),
        "no arguments: {statements:?}"
    );
    assert!(!logs.contains(&token) && !logs.contains("cache-pw"), "no token or password in the logs");
}
