//! `ward check-config` and configuration errors.

use std::io::Write as _;

use crate::{run_err, run_ok, ward};

#[test]
fn defaults_are_printed_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_ok(ward(dir.path()).arg("check-config"));
    assert!(out.contains("listen = \"127.0.0.1:8080\""), "{out}");
    assert!(out.contains("issuer = \"http://localhost:8080\""), "{out}");
    assert!(out.contains("signing_alg = \"ES256\""), "{out}");

    let out = run_ok(
        ward(dir.path())
            .arg("check-config")
            .env("WARD_DATABASE", "postgres://ward:pa55word@db.internal/ward")
            .env("WARD_KEY_ENCRYPTION_KEY", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="),
    );
    assert!(!out.contains("pa55word") && !out.contains("c2VjcmV0"), "{out}");
    assert!(out.contains("postgres://ward:<redacted>@db.internal/ward"), "{out}");

    // However a password is spelled in the URL.
    let url = "postgres://ward:pa%73s@db.internal/ward?sslpassword=hunter2&pass%77ord=hunter2&sslmode=require";
    let out = run_ok(ward(dir.path()).arg("check-config").env("WARD_DATABASE", url));
    assert!(!out.contains("hunter2") && !out.contains("pa%73s"), "{out}");
    assert!(out.contains("sslpassword=<redacted>&pass%77ord=<redacted>&sslmode=require"), "{out}");
}

#[test]
fn a_password_in_a_database_url_parameter_stays_out_of_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let db = rt.block_on(ward_testkit::TestDatabase::create()).unwrap();
    let url = format!("{}?sslpassword=hunter2-in-the-url&sslmode=prefer", db.url);
    // At debug level, so that nothing is hidden by the level alone.
    let port = ward_testkit::pg::free_port().unwrap();
    let out = ward(dir.path())
        .args(["--database", &url, "serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("WARD_LOG__LEVEL", "debug")
        .env("WARD_ISSUER_ENABLED", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The server runs in another process: this test waits for real.
    #[allow(clippy::disallowed_methods)]
    std::thread::sleep(std::time::Duration::from_secs(3));
    let _ = std::process::Command::new("kill").args(["-TERM", &out.id().to_string()]).status();
    let out = out.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(!logs.contains("hunter2"), "{logs}");
    assert!(logs.contains("unknown database URL parameter") && logs.contains("sslpassword"), "{logs}");
    rt.block_on(db.drop_database()).unwrap();
}

#[test]
fn file_env_and_flags_layer_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "listen = \"127.0.0.1:9000\"\nissuer = \"https://id.example\"\n[tokens]\naccess_token_ttl = \"5m\"")
        .unwrap();
    let out = run_ok(
        ward(dir.path())
            .arg("--config")
            .arg(file.path())
            .arg("check-config")
            .arg("--listen")
            .arg("127.0.0.1:9100")
            .env("WARD_ISSUER", "https://env.example"),
    );
    assert!(out.contains("listen = \"127.0.0.1:9100\""), "flag wins: {out}");
    assert!(out.contains("issuer = \"https://env.example\""), "env beats file: {out}");
    assert!(out.contains("access_token_ttl = \"5m\""), "{out}");
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "[http]\nmax_body_byte = 10").unwrap();
    let out = run_err(ward(dir.path()).arg("--config").arg(file.path()).arg("check-config"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max_body_byte") && err.contains(&file.path().display().to_string()), "{err}");

    // A misspelt variable is not an error (the environment is shared), but it is named.
    let out = ward(dir.path()).arg("check-config").env("WARD_TOKEN__SIGNING_ALG", "ES256").output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: ignoring WARD_* environment variables") && err.contains("WARD_TOKEN__SIGNING_ALG"));
    // A bad value of a known variable is.
    let out = run_err(ward(dir.path()).arg("check-config").env("WARD_TOKENS__SIGNING_ALG", "none"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WARD_TOKENS__SIGNING_ALG"), "{err}");

    let out = run_err(ward(dir.path()).arg("check-config").arg("--issuer").arg("http://id.example"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"), "plain http off loopback is refused");

    let out = run_err(ward(dir.path()).arg("--config").arg("/nonexistent/ward.toml").arg("check-config"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ward.toml"));
}
