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
    assert_eq!(scopes.as_array().map(Vec::len), Some(2));

    let created =
        json(&run(&["client", "create", "--name", "Reporting", "--id", "reporting", "--scope", "db:read", "--json"]));
    assert_eq!(created["client_id"], "reporting");
    assert_eq!(created["auth_method"], "client_secret_basic");
    assert_eq!(created["grant_types"], serde_json::json!(["client_credentials"]));
    let secret = created["client_secret"].as_str().unwrap_or_default().to_owned();
    assert_eq!(secret.len(), 43);
    assert!(created.get("secret_hash").is_none(), "the hash is not printed either");

    assert!(fail(&["client", "create", "--name", "X", "--id", "reporting"]).contains("already exists"));
    assert!(fail(&["client", "create", "--name", "X", "--scope", "db:admin"]).contains("undeclared scopes: db:admin"));
    assert!(
        fail(&["client", "create", "--name", "X", "--type", "public", "--grant-type", "client_credentials"])
            .contains("public")
    );
    assert!(fail(&["client", "create", "--name", "X", "--auth-method", "private_key_jwt"]).contains("JWK set"));
    assert!(fail(&["client", "create", "--name", "X", "--redirect-uri", "https://a/cb#frag"]).contains("fragment"));
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

    let list = json(&run(&["client", "list", "--json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    let text = run(&["client", "list"]);
    assert!(text.contains("reporting") && text.contains("CLI"), "{text}");
    let shown = run(&["client", "show", "reporting"]);
    assert!(shown.contains("db:read") && !shown.contains(&secret), "{shown}");

    let rotated = json(&run(&["client", "rotate-secret", "reporting", "--json"]));
    assert_ne!(rotated["client_secret"].as_str().unwrap_or_default(), secret);
    assert!(
        fail(&["client", "rotate-secret", public["client_id"].as_str().unwrap_or_default()]).contains("not a secret")
    );

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
    assert!(fail(&["keys", "rotate", "--alg", "HS256"]).contains("ES256"));
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
    assert!(out.contains("schema version 1"), "{out}");
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
