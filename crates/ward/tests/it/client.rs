//! The client as a person uses it: `ward login` (device and browser), `ward token`,
//! `ward whoami`, `ward logout`, `ward psql` and `ward env`, against one `ward serve` that is the
//! issuer and a PostgreSQL gate; and every way a sign-in can go wrong.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use ward_testkit::HttpBrowser;
use ward_testkit::gate::gate_db;

use crate::gate::{serve, stop};
use crate::{run_err, run_ok, ward};

const PASSWORD: &str = "correct horse battery staple";

struct Setup {
    issuer: String,
    gate_port: u16,
    dir: tempfile::TempDir,
    child: Child,
    _db: &'static ward_testkit::gate::GateDb,
}

/// `ward` as a client of `dir`: its own config and cache directories, no server flags, no
/// desktop to open a browser on.
fn client_in(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ward"));
    for (key, _) in std::env::vars() {
        if key.starts_with("WARD_") || key.starts_with("XDG_") || key == "BROWSER" {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("HOME", dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(args);
    cmd
}

impl Setup {
    fn client(&self, args: &[&str]) -> Command {
        client_in(self.dir.path(), args)
    }

    fn cache_file(&self) -> PathBuf {
        self.dir.path().join("cache/ward/tokens/default.json")
    }
}

async fn setup(access_token_ttl: &str) -> Setup {
    setup_with(access_token_ttl, "").await
}

/// `extra`: more top-level settings for `ward serve`, e.g. `sign_in = { … }`.
async fn setup_with(access_token_ttl: &str, extra: &str) -> Setup {
    let db = gate_db().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (http, port) = (ward_testkit::pg::free_port().unwrap(), ward_testkit::pg::free_port().unwrap());
    let issuer = format!("http://127.0.0.1:{http}");
    let config = format!(
        r#"
issuer = "{issuer}"
listen = "127.0.0.1:{http}"
tokens = {{ access_token_ttl = "{access_token_ttl}" }}
{extra}

[[trust]]
issuer = "{issuer}"

[[gate.postgres]]
listen = "127.0.0.1:{port}"
upstream = {{ host = "127.0.0.1", port = {pg}, database = "app" }}
roles = [{{ role = "reader", account = "svc_reader" }}]
accounts.svc_reader = {{ password = "reader-secret" }}
"#,
        pg = db.cluster.port,
    );
    let server_dir = dir.path().join("server");
    std::fs::create_dir_all(&server_dir).unwrap();
    let child =
        serve(&server_dir, &config, port, &[("WARD_ADMIN_PASSWORD", "the first admin password")], Stdio::null()).await;
    let mut create = ward(&server_dir.join("data"));
    create
        .arg("--config")
        .arg(server_dir.join("ward.toml"))
        .args([
            "admin",
            "user",
            "create",
            "alice",
            "--role",
            "reader",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut creating = create.spawn().unwrap();
    {
        use std::io::Write as _;
        writeln!(creating.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    }
    assert!(creating.wait().unwrap().success());
    // The client's profile: this issuer, and the gate as the default one.
    let config_dir = dir.path().join("config/ward");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        format!("[profiles.default]\nissuer = \"{issuer}\"\n[profiles.default.gates.app]\nport = {port}\ndatabase = \"app\"\nsslmode = \"disable\"\n"),
    )
    .unwrap();
    Setup { issuer, gate_port: port, dir, child, _db: db }
}

/// A browser signed in as alice.
async fn alice(issuer: &str) -> HttpBrowser {
    let mut browser = HttpBrowser::new().unwrap();
    let page = browser.get(&format!("{issuer}/sign-in")).await.unwrap();
    let csrf = page.field("csrf").unwrap();
    browser
        .post(&format!("{issuer}/sign-in"), issuer, &[("csrf", &csrf), ("username", "alice"), ("password", PASSWORD)])
        .await
        .unwrap();
    browser
}

/// Runs `ward login --device`, approves the code it shows over HTTP, waits for it to finish.
async fn device_login(setup: &Setup) -> String {
    let mut login = tokio::process::Command::from(setup.client(&["login", "--device"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stderr.take().unwrap()).lines();
    let user_code = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some((_, code)) = line.split_once("?user_code=") {
                return code.trim().to_owned();
            }
        }
        panic!("ward login showed no code");
    })
    .await
    .unwrap();
    let mut browser = alice(&setup.issuer).await;
    let form = browser.get(&format!("{}/device?user_code={user_code}", setup.issuer)).await.unwrap();
    let csrf = form.field("csrf").unwrap();
    assert_eq!(form.field("user_code").unwrap(), user_code);
    browser
        .post(&format!("{}/device", setup.issuer), &setup.issuer, &[("csrf", &csrf), ("user_code", &user_code)])
        .await
        .unwrap();
    let done = browser
        .post(
            &format!("{}/device/decide", setup.issuer),
            &setup.issuer,
            &[("csrf", &csrf), ("user_code", &user_code), ("decision", "approve")],
        )
        .await
        .unwrap();
    assert_eq!(done.status, 200);
    let mut rest = String::new();
    let finished = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            rest.push_str(&line);
            rest.push('\n');
        }
        login.wait().await.unwrap()
    })
    .await
    .unwrap();
    assert!(finished.success(), "ward login failed: {rest}");
    rest
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn stdout(cmd: &mut Command) -> String {
    run_ok(cmd).trim().to_owned()
}

fn stderr_of_failure(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_err(cmd).stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_then_token_whoami_psql_env_refresh_and_logout() {
    let setup = setup("30s").await;
    let said = device_login(&setup).await;
    assert!(said.contains("Logged in as alice@example.com (roles: reader)"), "{said}");
    assert!(!said.contains("eyJ"), "no token on screen: {said}");
    let cache = setup.cache_file();
    assert_eq!((mode(&cache), mode(cache.parent().unwrap())), (0o600, 0o700));

    // The token lives 30 s: under a minute left, so `ward token` refreshes (and rotates) at once.
    let before: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    let token = stdout(&mut setup.client(&["token"]));
    let after: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_ne!(token, before["access_token"].as_str().unwrap(), "refreshed");
    assert_eq!(token, after["access_token"].as_str().unwrap());
    assert_ne!(before["refresh_token"], after["refresh_token"], "the rotated refresh token was kept");
    assert_eq!(mode(&cache), 0o600);
    let json: serde_json::Value = serde_json::from_str(&stdout(&mut setup.client(&["token", "--json"]))).unwrap();
    assert!(json["refresh_token"].is_string() && json["id_token"].is_string());

    let whoami = stdout(&mut setup.client(&["whoami"]));
    assert!(
        whoami.starts_with(&format!(
            "Logged in as alice@example.com (roles: reader) at {}; token expires in",
            setup.issuer
        )),
        "{whoami}"
    );

    // ward psql: through the gate as the signed-in person.
    let who = stdout(
        setup
            .client(&["psql", "--", "-X", "-A", "-t", "-c", "select current_user, current_setting('app.user_id')"])
            .env("WARD_PSQL", "psql"),
    );
    assert_eq!(who, "svc_reader|alice");
    let env = stdout(&mut setup.client(&["env"]));
    assert!(
        env.contains(&format!("export PGPORT='{}'", setup.gate_port)) && env.contains("export PGPASSWORD='"),
        "{env}"
    );
    assert!(stderr_of_failure(&mut setup.client(&["psql", "nope"])).contains("no gate \"nope\""));

    // Logout revokes at the issuer: the refresh token is dead, and the cache is gone.
    let refresh_token =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(&cache).unwrap()).unwrap()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
    run_ok(&mut setup.client(&["logout"]));
    assert!(!cache.exists());
    let refused = reqwest::Client::new()
        .post(format!("{}/oauth/token", setup.issuer))
        .form(&[("grant_type", "refresh_token"), ("client_id", "ward-cli"), ("refresh_token", &refresh_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(stderr_of_failure(&mut setup.client(&["token"])).contains("run `ward login`"));
    stop(setup.child).await;
}

/// Runs `ward login` (browser) with a stand-in browser; returns the process and the URL it printed.
async fn browser_login(
    setup: &Setup,
    extra: &[&str],
) -> (tokio::process::Child, String, tokio::io::Lines<BufReader<tokio::process::ChildStderr>>) {
    let mut args = vec!["login"];
    args.extend_from_slice(extra);
    let mut cmd = setup.client(&args);
    // `true` stands in for a browser: it "opens" the URL, and the test plays the person.
    cmd.env("BROWSER", "true");
    let mut login = tokio::process::Command::from(cmd)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stderr.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.trim().starts_with("http") {
                return line.trim().to_owned();
            }
        }
        panic!("ward login printed no URL");
    })
    .await
    .unwrap();
    (login, url, lines)
}

async fn outcome(
    mut login: tokio::process::Child,
    mut lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) -> (bool, String) {
    let mut said = String::new();
    let status = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            said.push_str(&line);
            said.push('\n');
        }
        login.wait().await.unwrap()
    })
    .await
    .unwrap();
    (status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_login_and_what_can_go_wrong_with_it() {
    let setup = setup("15m").await;
    // The whole way: sign-in page, back to the loopback listener with a code.
    let (login, url, lines) = browser_login(&setup, &[]).await;
    assert!(
        url.contains("code_challenge_method=S256") && url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    let mut browser = HttpBrowser::new().unwrap();
    let first = browser.get(&url).await.unwrap();
    let page = browser.follow(&setup.issuer, &first).await.unwrap();
    let (csrf, return_to) = (page.field("csrf").unwrap(), page.field("return_to").unwrap());
    let signed_in = browser
        .post(
            &format!("{}/sign-in", setup.issuer),
            &setup.issuer,
            &[("csrf", &csrf), ("return_to", &return_to), ("username", "alice"), ("password", PASSWORD)],
        )
        .await
        .unwrap();
    let back = browser.follow(&setup.issuer, &signed_in).await.unwrap();
    let callback = back.location().unwrap().to_owned();
    assert!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let closing = browser.get(&callback).await.unwrap();
    assert!(closing.body.contains("You can close this tab"));
    let (ok, said) = outcome(login, lines).await;
    assert!(ok && said.contains("Logged in as alice@example.com"), "{said}");

    // The answer's state must be this sign-in's; errors and a missing code are reported.
    let state_of = |url: &str| url.split("state=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let callback_of = |url: &str| {
        let redirect = url.split("redirect_uri=").nth(1).unwrap().split('&').next().unwrap();
        form_urlencoded::parse(format!("r={redirect}").as_bytes()).next().unwrap().1.into_owned()
    };
    for (query, expected) in [
        (|_: &str| "state=forged&code=x".to_owned()) as fn(&str) -> String,
        |state| format!("state={state}&error=access_denied&error_description=no"),
        |state| format!("state={state}"),
    ]
    .into_iter()
    .zip(["state does not match", "the issuer said access_denied: no", "carried no code"])
    {
        let (login, url, lines) = browser_login(&setup, &[]).await;
        let target = format!("{}?{}", callback_of(&url), query(&state_of(&url)));
        let page = HttpBrowser::new().unwrap().get(&target).await.unwrap();
        assert!(page.body.contains("Sign-in failed"));
        let (ok, said) = outcome(login, lines).await;
        assert!(!ok && said.contains(expected), "{expected}: {said}");
    }

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let err = stderr_of_failure(setup.client(&["login", "--port", &port]).env("BROWSER", "true"));
    assert!(err.contains(&format!("cannot listen on 127.0.0.1:{port}")), "{err}");
    // An issuer that does not answer, and one whose metadata names another issuer.
    let err = stderr_of_failure(&mut setup.client(&["login", "--device", "--issuer", "http://127.0.0.1:1"]));
    assert!(err.contains("cannot reach the issuer at http://127.0.0.1:1"), "{err}");
    let other_name = setup.issuer.replace("127.0.0.1", "localhost");
    let err = stderr_of_failure(&mut setup.client(&["login", "--device", "--issuer", &other_name]));
    assert!(err.contains("says it is") && err.contains("check the issuer URL"), "{err}");
    // A cache others can read, or that is not a cache: refused, with a way out.
    let cache = setup.cache_file();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let err = stderr_of_failure(&mut setup.client(&["token"]));
    assert!(err.contains("others can read it (mode 644)") && err.contains("ward logout"), "{err}");
    std::fs::write(&cache, "garbage").unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let err = stderr_of_failure(&mut setup.client(&["whoami"]));
    assert!(err.contains("is not a token cache"), "{err}");
    // Server flags are not client flags, and a broken server setting does not matter here.
    assert!(stderr_of_failure(&mut setup.client(&["--data-dir", "/tmp", "token"])).contains("server flags"));
    let err = stderr_of_failure(setup.client(&["whoami"]).env("WARD_TOKENS__SIGNING_ALG", "bogus"));
    assert!(err.contains("is not a token cache"), "the client never read the server's settings: {err}");
    stop(setup.child).await;
}

/// Another OIDC issuer (the test kit's fake one, which approves after one poll): the same
/// client, with `--client-id` and `--audience` as such issuers need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_at_another_oidc_issuer() {
    let fake = ward_testkit::oidc::FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let args =
        ["login", "--device", "--issuer", &fake.url, "--client-id", "some-app", "--audience", "https://api.example"];
    let mut cmd = tokio::process::Command::from(client_in(dir.path(), &args));
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output()).await.unwrap().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("WDJB-MJHT") && said.contains(&format!("Logged in as bob@example.com at {}", fake.url)),
        "{said}"
    );
    let sent = fake.device_requests.lock().unwrap().clone();
    assert!(sent.contains(&("audience".to_owned(), "https://api.example".to_owned())), "{sent:?}");
    assert!(sent.contains(&("client_id".to_owned(), "some-app".to_owned())));
    let whoami = run_ok(&mut client_in(dir.path(), &["whoami", "--issuer", &fake.url, "--client-id", "some-app"]));
    assert!(whoami.contains("Logged in as bob@example.com"), "{whoami}");
    // Its tokens belong to that issuer and client: the default profile is not signed in by them.
    assert!(
        stderr_of_failure(&mut client_in(dir.path(), &["token"])).contains("not signed in to http://localhost:8080")
    );
}

/// `ward login --device` in a real terminal (tmux): what a person sees — the code, the QR code,
/// the spinner — and the result, read off the screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_login_on_a_terminal_screen() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI needs tmux (see .ci/run)");
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let setup = setup("15m").await;
    let socket = format!("ward-test-{}", std::process::id());
    let tmux = |args: &[&str]| Command::new("tmux").args(["-L", &socket]).args(args).output().unwrap();
    let dir = setup.dir.path();
    let script = format!(
        "env -u DISPLAY -u WAYLAND_DISPLAY XDG_CONFIG_HOME={} XDG_CACHE_HOME={} HOME={} {} login --device; echo EXIT=$?; sleep 60",
        dir.join("config").display(),
        dir.join("cache").display(),
        dir.display(),
        env!("CARGO_BIN_EXE_ward"),
    );
    assert!(tmux(&["new-session", "-d", "-x", "100", "-y", "60", &script]).status.success());
    let screen = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p"]).stdout).into_owned();
    let mut shown = String::new();
    for _ in 0..100 {
        shown = screen();
        if shown.contains("Waiting for approval") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let code = shown
        .split("user_code=")
        .nth(1)
        .map(|rest| rest[..9].to_owned())
        .unwrap_or_else(|| panic!("no code on screen:\n{shown}"));
    assert!(shown.contains("scan this with a phone") && shown.contains('█'), "a QR code:\n{shown}");
    let mut browser = alice(&setup.issuer).await;
    let form = browser.get(&format!("{}/device", setup.issuer)).await.unwrap();
    let csrf = form.field("csrf").unwrap();
    browser
        .post(&format!("{}/device", setup.issuer), &setup.issuer, &[("csrf", &csrf), ("user_code", &code)])
        .await
        .unwrap();
    browser
        .post(
            &format!("{}/device/decide", setup.issuer),
            &setup.issuer,
            &[("csrf", &csrf), ("user_code", &code), ("decision", "approve")],
        )
        .await
        .unwrap();
    for _ in 0..150 {
        shown = screen();
        if shown.contains("EXIT=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = tmux(&["kill-server"]);
    assert!(shown.contains("Approved.") && shown.contains("Logged in as alice@example.com (roles: reader)"), "{shown}");
    assert!(shown.contains("EXIT=0"), "{shown}");
    stop(setup.child).await;
}

/// When the refresh token has expired, or its grant was revoked, `ward token` says to sign in
/// again — and keeps nothing it cannot use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_failures_send_you_back_to_ward_login() {
    let setup = setup_with("30s", r#"sign_in = { refresh_token_ttl = "3s", grant_lifetime = "90d" }"#).await;
    device_login(&setup).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let err = stderr_of_failure(&mut setup.client(&["token"]));
    assert!(err.contains("refreshing failed: invalid_grant") && err.contains("run `ward login`"), "{err}");

    // Signed in again; then an administrator revokes every session of the user.
    device_login(&setup).await;
    let server = setup.dir.path().join("server");
    let mut revoke = ward(&server.join("data"));
    revoke.arg("--config").arg(server.join("ward.toml")).args(["admin", "user", "revoke", "alice", "--all"]);
    assert!(run_ok(&mut revoke).contains("session(s) of alice"));
    let err = stderr_of_failure(&mut setup.client(&["token"]));
    assert!(err.contains("refreshing failed") && err.contains("run `ward login`"), "{err}");
    stop(setup.child).await;
}
