//! J4 without help: a stock psql 18, with libpq's own OAuth flow, signs in through the gate by
//! itself. `ward serve` is the issuer and a gate in `auth = "oauthbearer"` mode; psql, given
//! only `oauth_issuer` and `oauth_client_id=ward-cli`, learns the issuer from the gate, runs
//! the device flow against Ward, prints a user code, and is in once a person approves it.
//!
//! The client is Debian's postgresql-18 source built with libcurl
//! (`.ci/build-libpq18-oauth.sh`, which `.ci/run` runs into `target/libpq18`);
//! `WARD_TEST_LIBPQ18` names another build. Without one the test says so and passes, except
//! under CI, where it fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use ward_testkit::HttpBrowser;
use ward_testkit::gate::gate_db;

use crate::gate::{serve, stop};
use crate::ward;

const PASSWORD: &str = "correct horse battery staple";

fn libpq18() -> Option<PathBuf> {
    let dir = std::env::var_os("WARD_TEST_LIBPQ18")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/libpq18"));
    dir.join("bin/psql").exists().then_some(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_18_signs_in_through_the_gate_with_the_device_flow() {
    let Some(libpq) = libpq18() else {
        assert!(std::env::var_os("CI").is_none(), "CI needs psql 18 with OAuth in target/libpq18 (see .ci/run)");
        eprintln!("skipped: no psql 18 built with OAuth (run bash .ci/build-libpq18-oauth.sh target/libpq18)");
        return;
    };
    let db = gate_db().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (http, port) = (ward_testkit::pg::free_port().unwrap(), ward_testkit::pg::free_port().unwrap());
    let issuer = format!("http://127.0.0.1:{http}");
    let config = format!(
        r#"
issuer = "{issuer}"
listen = "127.0.0.1:{http}"

[[trust]]
issuer = "{issuer}"

[[gate.postgres]]
listen = "127.0.0.1:{port}"
auth = "oauthbearer"
upstream = {{ host = "127.0.0.1", port = {pg}, database = "app" }}
roles = [{{ role = "reader", account = "svc_reader" }}]
accounts.svc_reader = {{ password = "reader-secret" }}
"#,
        pg = db.cluster.port,
    );
    let child =
        serve(dir.path(), &config, port, &[("WARD_ADMIN_PASSWORD", "the first admin password")], Stdio::null()).await;
    let mut create = ward(&dir.path().join("data"));
    create
        .arg("--config")
        .arg(dir.path().join("ward.toml"))
        .args(["admin", "user", "create", "alice", "--role", "reader", "--password-stdin"])
        .stdin(Stdio::piped());
    let mut creating = create.stdout(Stdio::null()).spawn().unwrap();
    {
        use std::io::Write as _;
        writeln!(creating.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    }
    assert!(creating.wait().unwrap().success());

    // psql with nothing but the issuer and the client id; an http issuer needs libpq's debug mode.
    let conninfo = format!(
        "host=127.0.0.1 port={port} dbname=app user=alice sslmode=disable oauth_issuer={issuer} oauth_client_id=ward-cli"
    );
    let mut psql = tokio::process::Command::new(libpq.join("bin/psql"))
        .arg(conninfo)
        .args(["-X", "-A", "-t", "-c", "select current_user, current_setting('app.user_id')"])
        .env("LD_LIBRARY_PATH", libpq.join("lib"))
        .env("PGOAUTHDEBUG", "UNSAFE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(psql.stderr.take().unwrap()).lines();
    let mut seen = Vec::new();
    let user_code = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            seen.push(line.clone());
            if let Some((_, code)) = line.split_once("enter the code: ") {
                return code.trim().to_owned();
            }
        }
        panic!("psql ended without a user code: {seen:?}");
    })
    .await
    .expect("psql printed a user code");
    assert_eq!(user_code.len(), 9, "{user_code}");

    // The person approves at /device.
    let mut browser = HttpBrowser::new().unwrap();
    let page = browser.get(&format!("{issuer}/sign-in")).await.unwrap();
    let csrf = page.field("csrf").unwrap();
    browser
        .post(&format!("{issuer}/sign-in"), &issuer, &[("csrf", &csrf), ("username", "alice"), ("password", PASSWORD)])
        .await
        .unwrap();
    let confirm = browser
        .post(&format!("{issuer}/device"), &issuer, &[("csrf", &csrf), ("user_code", &user_code)])
        .await
        .unwrap();
    assert!(confirm.body.contains("Ward CLI"), "{}", confirm.body);
    let done = browser
        .post(
            &format!("{issuer}/device/decide"),
            &issuer,
            &[("csrf", &csrf), ("user_code", &user_code), ("decision", "approve")],
        )
        .await
        .unwrap();
    assert_eq!(done.status, 200);

    let output =
        tokio::time::timeout(Duration::from_secs(60), psql.wait_with_output()).await.expect("psql finished").unwrap();
    assert!(output.status.success(), "psql failed: {seen:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "svc_reader|alice");
    stop(child).await;
}
