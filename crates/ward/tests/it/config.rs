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

    let out = run_err(ward(dir.path()).arg("check-config").env("WARD_TOKEN__SIGNING_ALG", "ES256"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WARD_TOKEN__SIGNING_ALG"), "{err}");

    let out = run_err(ward(dir.path()).arg("check-config").arg("--issuer").arg("http://id.example"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("https"), "plain http off loopback is refused");

    let out = run_err(ward(dir.path()).arg("--config").arg("/nonexistent/ward.toml").arg("check-config"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/ward.toml"));
}
