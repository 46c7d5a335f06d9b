//! `ward admin …` against SQLite and PostgreSQL.

use std::path::Path;

use crate::{json, run_err, run_ok, ward};

fn admin(dir: &Path, database: Option<&str>, args: &[&str]) -> std::process::Command {
    let mut cmd = ward(dir);
    if let Some(db) = database {
        cmd.arg("--database").arg(db);
    }
    cmd.arg("admin").args(args);
    cmd
}

fn round_trip(database: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |args: &[&str]| run_ok(&mut admin(d, database, args));
    let fail = |args: &[&str]| String::from_utf8_lossy(&run_err(&mut admin(d, database, args)).stderr).into_owned();

    assert!(run(&["scope", "create", "db:read", "--description", "Read rows"]).contains("created scope db:read"));
    run(&["scope", "create", "db:write"]);
    assert!(fail(&["scope", "create", "db:read"]).contains("already exists"));
    assert!(fail(&["scope", "create", "bad scope"]).contains("invalid scope"));
    let scopes = json(&run(&["scope", "list", "--json"]));
    // The two above, and the four OpenID Connect scopes every installation has.
    let names: Vec<&str> = scopes.as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["db:read", "db:write", "email", "offline_access", "openid", "profile"]);

    let created =
        json(&run(&["client", "create", "--name", "Reporting", "--id", "reporting", "--scope", "db:read", "--json"]));
    assert_eq!(created["client_id"], "reporting");
    assert_eq!(created["auth_method"], "client_secret_basic");
    assert_eq!(created["grant_types"], serde_json::json!(["client_credentials"]));
    let secret = created["client_secret"].as_str().unwrap_or_default().to_owned();
    assert_eq!(secret.len(), 43);
    assert!(created.get("secret_hash").is_none(), "the hash is not printed either");
    assert_eq!(created["may_introspect"], false);
    let gate = json(&run(&["client", "create", "--name", "Gate", "--id", "gate", "--introspect", "--json"]));
    assert_eq!(gate["may_introspect"], true);
    assert!(run(&["client", "show", "gate"]).contains("introspects:    true"));

    assert!(fail(&["client", "create", "--name", "X", "--id", "reporting"]).contains("already exists"));
    assert!(fail(&["client", "create", "--name", "X", "--role", " reader"]).contains("a role is 1-128 characters"));
    assert!(fail(&["client", "create", "--name", "X", "--tenant", ""]).contains("a tenant is 1-128 characters"));
    assert!(fail(&["client", "create", "--name", "X", "--scope", "db:admin"]).contains("undeclared scopes: db:admin"));
    assert!(
        fail(&["client", "create", "--name", "X", "--type", "public", "--grant-type", "client_credentials"])
            .contains("public")
    );
    assert!(fail(&["client", "create", "--name", "X", "--auth-method", "private_key_jwt"]).contains("JWK set"));
    assert!(fail(&["client", "create", "--name", "X", "--redirect-uri", "https://a/cb#frag"]).contains("fragment"));
    assert!(fail(&["client", "create", "--name", "X", "--redirect-uri", "http://app.example/cb"]).contains("loopback"));
    assert!(fail(&["client", "create", "--name", "X", "--redirect-uri", "javascript:alert(1)"]).contains("scheme"));
    assert!(fail(&["client", "create", "--name", "X", "--id", "has space"]).contains("client id"));

    let public = json(&run(&[
        "client",
        "create",
        "--name",
        "CLI",
        "--type",
        "public",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--json",
    ]));
    assert_eq!(public["auth_method"], "none");
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["grant_types"], serde_json::json!(["authorization_code", "refresh_token"]));
    assert_eq!(public["require_pkce"], true);
    // A public client without a redirect URI (a TV, a CLI) signs people in with device codes.
    let tv = json(&run(&["client", "create", "--name", "TV", "--id", "tv", "--type", "public", "--json"]));
    assert_eq!(tv["grant_types"], serde_json::json!(["refresh_token", "urn:ietf:params:oauth:grant-type:device_code"]));
    run(&["client", "delete", "tv"]);
    assert!(
        fail(&[
            "client",
            "create",
            "--name",
            "X",
            "--type",
            "public",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--pkce-optional"
        ])
        .contains("must use PKCE")
    );
    assert!(fail(&["client", "create", "--name", "X", "--grant-type", "authorization_code"]).contains("redirect URI"));
    assert!(
        fail(&[
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://a/cb",
            "--post-logout-redirect-uri",
            "http://a/bye"
        ])
        .contains("loopback")
    );
    // A confidential web app with every sign-in option.
    let web = json(&run(&[
        "client",
        "create",
        "--name",
        "Web",
        "--id",
        "web",
        "--redirect-uri",
        "https://app.example/cb",
        "--post-logout-redirect-uri",
        "https://app.example/bye",
        "--require-par",
        "--fixed-refresh-tokens",
        "--pkce-optional",
        "--json",
    ]));
    assert_eq!(web["grant_types"], serde_json::json!(["authorization_code", "client_credentials", "refresh_token"]));
    assert_eq!(web["post_logout_redirect_uris"], serde_json::json!(["https://app.example/bye"]));
    assert_eq!(
        (&web["require_par"], &web["require_pkce"], &web["rotate_refresh_tokens"]),
        (&serde_json::json!(true), &serde_json::json!(false), &serde_json::json!(false))
    );
    assert!(run(&["client", "show", "web"]).contains("refresh:        fixed"));
    run(&["client", "delete", "web"]);

    let list = json(&run(&["client", "list", "--json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(3));
    let text = run(&["client", "list"]);
    assert!(text.contains("reporting") && text.contains("CLI"), "{text}");
    let shown = run(&["client", "show", "reporting"]);
    assert!(shown.contains("db:read") && !shown.contains(&secret), "{shown}");

    let rotated = json(&run(&["client", "rotate-secret", "reporting", "--json"]));
    assert_ne!(rotated["client_secret"].as_str().unwrap_or_default(), secret);
    let refused = fail(&["client", "rotate-secret", public["client_id"].as_str().unwrap_or_default()]);
    assert!(refused.contains("not a secret"), "{refused}");

    assert!(fail(&["scope", "delete", "db:read"]).contains("still allowed for clients: reporting"));
    run(&["client", "delete", "reporting"]);
    assert!(fail(&["client", "show", "reporting"]).contains("not found"));
    assert!(fail(&["client", "delete", "reporting"]).contains("not found"));
    run(&["scope", "delete", "db:read"]);

    let keys = json(&run(&["keys", "list", "--json"]));
    assert_eq!(keys.as_array().map(Vec::len), Some(0), "no key until the issuer first starts or a rotation");
    let first = json(&run(&["keys", "rotate", "--json"]));
    let second = json(&run(&["keys", "rotate", "--alg", "EdDSA", "--json"]));
    assert_eq!(second["alg"], "EdDSA");
    let keys = json(&run(&["keys", "list", "--json"]));
    let active: Vec<&serde_json::Value> =
        keys.as_array().into_iter().flatten().filter(|k| k["active"] == true).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["kid"], second["kid"]);
    assert!(keys.as_array().into_iter().flatten().any(|k| k["kid"] == first["kid"] && k["publish_until"].is_i64()));
    // Staged by default: published after one reload interval, signing after key_publish_ahead.
    let lead = |r: &serde_json::Value, field: &str| r[field].as_i64().unwrap() - r["active_from"].as_i64().unwrap();
    assert_eq!(lead(&second, "published_from"), 30 - 600);
    let text = run(&["keys", "rotate"]);
    assert!(text.contains("published from") && text.contains("signing from"), "{text}");
    let urgent = json(&run(&["keys", "rotate", "--now", "--json"]));
    assert_eq!(lead(&urgent, "published_from"), 0);
    let text = run(&["keys", "rotate", "--now"]);
    assert!(text.contains("signing now") && text.contains("max-age 300 s"), "{text}");
    let listed = run(&["keys", "list"]);
    assert!(listed.contains("staged") && listed.contains("signing"), "{listed}");
    assert!(fail(&["keys", "rotate", "--alg", "HS256"]).contains("ES256"));

    users(d, database);
}

/// `ward admin user …`, the password on standard input (never on the command line).
fn users(d: &Path, database: Option<&str>) {
    let run = |args: &[&str]| run_ok(&mut admin(d, database, args));
    let fail = |args: &[&str]| String::from_utf8_lossy(&run_err(&mut admin(d, database, args)).stderr).into_owned();
    let with_stdin = |args: &[&str], input: &str| {
        use std::io::Write as _;
        let mut child = admin(d, database, args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    };
    let password = "correct horse battery staple";
    let out = with_stdin(
        &["user", "create", "ada", "--email", "ada@example.com", "--role", "reader", "--password-stdin", "--json"],
        &format!("{password}\n"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created = json(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(created["username"], "ada");
    assert_eq!(created["roles"], serde_json::json!(["reader"]));
    assert!(created.get("password_hash").is_none(), "the hash is not printed");
    let shown = run(&["user", "show", "ada"]);
    assert!(shown.contains("password:  set") && !shown.contains(password), "{shown}");

    // Refused: a short password, a taken name, a bad name, and no password source at all.
    let short = with_stdin(&["user", "create", "bob", "--password-stdin"], "short\n");
    assert!(String::from_utf8_lossy(&short.stderr).contains("12 characters or more"));
    let taken = with_stdin(&["user", "create", "ada", "--password-stdin"], &format!("{password}\n"));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("already exists"));
    let bad = with_stdin(&["user", "create", "a b", "--password-stdin"], &format!("{password}\n"));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("a username is"));
    let no_tty = with_stdin(&["user", "create", "carol"], "");
    assert!(String::from_utf8_lossy(&no_tty.stderr).contains("--password-stdin"));

    // Sessions: none yet; revoking one that is not theirs fails, revoking all works.
    assert_eq!(json(&run(&["user", "sessions", "ada", "--json"])), serde_json::json!([]));
    assert!(run(&["user", "sessions", "ada"]).contains("SESSION"));
    assert!(fail(&["user", "revoke", "ada", "--grant", "nope"]).contains("no active session nope"));
    assert!(fail(&["user", "revoke", "ada"]).contains("--grant"));
    assert_eq!(json(&run(&["user", "revoke", "ada", "--all", "--json"])), serde_json::json!({"revoked": []}));
    assert!(fail(&["user", "sessions", "nobody"]).contains("not found"));
    assert!(run(&["user", "disable", "ada"]).contains("disabled user ada"));
    assert_eq!(json(&run(&["user", "list", "--json"]))[0]["disabled"], true);
    run(&["user", "enable", "ada"]);
    let roles = json(&run(&["user", "add-role", "ada", "writer", "--json"]));
    assert_eq!(roles["roles"], serde_json::json!(["reader", "writer"]));
    let roles = json(&run(&["user", "remove-role", "ada", "reader", "--json"]));
    assert_eq!(roles["roles"], serde_json::json!(["writer"]));
    assert!(fail(&["user", "remove-role", "ada", "reader"]).contains("not found"));
    let reset = with_stdin(&["user", "set-password", "ada", "--password-stdin"], "another long passphrase\n");
    assert!(reset.status.success(), "{}", String::from_utf8_lossy(&reset.stderr));
    run(&["user", "delete", "ada"]);
    assert!(fail(&["user", "show", "ada"]).contains("not found"));
}

#[test]
fn admin_round_trip_on_sqlite() {
    round_trip(None);
}

#[test]
fn admin_round_trip_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let db = rt.block_on(ward_testkit::TestDatabase::create()).unwrap();
    round_trip(Some(&db.url));
    rt.block_on(db.drop_database()).unwrap();
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(ward(dir.path()).arg("migrate"));
    assert!(out.contains(&format!("schema version {}", ward_store::migrate::latest_version())), "{out}");
    let url = format!("sqlite://{}", dir.path().join("ward.db").display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store = ward_store::SqlStore::connect(&url).await.unwrap();
        store.record_schema_version_for_tests(99).await.unwrap();
        store.close().await;
    });
    let out = run_err(ward(dir.path()).arg("migrate"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("version 99") && err.contains("newer"), "{err}");
    let out = run_err(ward(dir.path()).args(["admin", "client", "list"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer"));
}

#[test]
fn self_signed_certificates_for_gates() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("gate.crt"), dir.path().join("gate.key"));
    let args = |force: bool| {
        let mut cmd = ward(dir.path());
        cmd.args(["admin", "tls", "self-signed", "--cert"])
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["--host", "db.internal"]);
        if force {
            cmd.arg("--force");
        }
        cmd
    };
    let out = run_ok(&mut args(false));
    assert!(out.contains("db.internal"), "{out}");
    assert!(std::fs::read_to_string(&cert).unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(std::fs::read_to_string(&key).unwrap().contains("PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let err = run_err(&mut args(false));
    assert!(String::from_utf8_lossy(&err.stderr).contains("--force"));
    run_ok(&mut args(true));
}

#[test]
fn self_signed_certificates_are_valid_for_one_year() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("gate.crt"), dir.path().join("gate.key"));
    run_ok(ward(dir.path()).args(["admin", "tls", "self-signed", "--cert"]).arg(&cert).arg("--key").arg(&key));
    // Python's ssl module reads the validity without an openssl binary.
    let script = "import ssl,sys,json; d=ssl._ssl._test_decode_cert(sys.argv[1]); \
                  print(json.dumps([ssl.cert_time_to_seconds(d['notBefore']), ssl.cert_time_to_seconds(d['notAfter'])]))";
    let out = std::process::Command::new("python3").args(["-c", script]).arg(&cert).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let [from, until]: [i64; 2] = serde_json::from_slice(&out.stdout).unwrap();
    let now = ward_core::Clock::now(&ward_core::SystemClock);
    assert!((now - 86_400..=now).contains(&from), "valid from today: {from} vs {now}");
    assert!((364 * 86_400..=366 * 86_400).contains(&(until - from)), "one year: {}", until - from);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ward_schema_is_printed_and_installed_with_the_configured_keys() {
    let dir = tempfile::tempdir().unwrap();
    let sql = run_ok(ward(dir.path()).args(["admin", "pg", "identity-sql"]));
    assert!(sql.contains("CREATE SCHEMA IF NOT EXISTS ward") && sql.contains("SECURITY DEFINER"), "{sql}");
    assert!(!sql.contains("INSERT INTO ward.identity_keys"), "no keys in the printed schema");

    let db = ward_testkit::pg::TestDatabase::create().await.unwrap();
    let config = dir.path().join("ward.toml");
    let write = |keys: &str| {
        std::fs::write(
            &config,
            format!(
                "[[trust]]\nissuer = \"http://127.0.0.1:9\"\n\
                 [[gate.postgres]]\nlisten = \"127.0.0.1:6432\"\n\
                 upstream = {{ host = \"127.0.0.1\", port = 5432, database = \"app\" }}\n\
                 roles = [{{ role = \"*\", account = \"svc\" }}]\naccounts.svc = {{}}\n\
                 [gate.postgres.signed_identity]\nkeys = [{keys}]\n"
            ),
        )
        .unwrap()
    };
    let install = || {
        let mut cmd = ward(dir.path());
        cmd.arg("--config")
            .arg(&config)
            .args(["admin", "pg", "install", "--database", &db.url])
            .env("K2", "k2-secret-0123456789abcdef0123456789");
        cmd
    };
    write(r#"{ id = "k2", secret_env = "K2" }, { id = "k1", secret = "k1-secret-0123456789abcdef0123456789" }"#);
    let out = run_ok(&mut install());
    assert!(out.contains("identity keys: k2, k1"), "{out}");
    let kids = |url: String| async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let rows = client.query("select kid from ward.identity_keys order by kid", &[]).await.unwrap();
        rows.iter().map(|r| r.get::<_, String>(0)).collect::<Vec<_>>()
    };
    assert_eq!(kids(db.url.clone()).await, ["k1", "k2"]);
    // The last step of a rotation: a key no longer configured is removed. Installing again is safe.
    write(r#"{ id = "k2", secret_env = "K2" }"#);
    run_ok(&mut install());
    run_ok(&mut install());
    assert_eq!(kids(db.url.clone()).await, ["k2"]);
    // Without --database it refuses, rather than guess.
    let err = run_err(ward(dir.path()).arg("--config").arg(&config).args(["admin", "pg", "install"]).env("K2", "x"));
    assert!(String::from_utf8_lossy(&err.stderr).contains("--database"), "{}", String::from_utf8_lossy(&err.stderr));
    db.drop_database().await.unwrap();
}
