//! Headless Chromium through ChromeDriver's W3C WebDriver API, spoken directly over HTTP
//! (a dozen endpoints; no WebDriver crate needed), plus a loopback callback server that plays
//! the application a browser is sent back to.
//!
//! Debian's `chromium` and `chromium-driver` provide the binaries (`.ci/run` installs them).
//! Without them a test calling [`Chromium::start`] fails under `CI=true` and is skipped, with a
//! message, elsewhere.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

pub struct Chromium {
    driver: tokio::process::Child,
    base: String,
    http: reqwest::Client,
    /// Where screenshots go: `target/artifacts/<name>/`.
    pub artifacts: PathBuf,
}

impl Chromium {
    /// Starts ChromeDriver and a headless Chromium session. `None` (after saying why) when
    /// the binaries are missing outside CI.
    pub async fn start(artifacts: &str) -> Result<Option<Self>> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
            if std::env::var_os("CI").is_some() {
                bail!("{CHROMIUM} and {CHROMEDRIVER} are needed (Debian packages chromium, chromium-driver)");
            }
            eprintln!("skipped: install Debian's chromium and chromium-driver to run the browser tests");
            return Ok(None);
        }
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
            listener.local_addr()?.port()
        };
        let driver = tokio::process::Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver")?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
        let root = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{root}/status")).send().await
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::ensure!(ready, "chromedriver did not become ready");
        let profile = tempfile::tempdir()?.keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=900,1000", format!("--user-data-dir={}", profile.display())],
            }
        }}});
        let created: Value = http.post(format!("{root}/session")).json(&caps).send().await?.json().await?;
        let session = created["value"]["sessionId"].as_str().ok_or_else(|| anyhow!("no session: {created}"))?;
        let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/artifacts").join(artifacts);
        std::fs::create_dir_all(&artifacts)?;
        Ok(Some(Self { driver, base: format!("{root}/session/{session}"), http, artifacts }))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let reply: Value = request.send().await?.json().await?;
        if let Some(error) = reply["value"]["error"].as_str() {
            bail!("webdriver {path}: {error}: {}", reply["value"]["message"]);
        }
        Ok(reply["value"].clone())
    }

    pub async fn goto(&self, url: &str) -> Result<()> {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url }))).await.map(drop)
    }

    pub async fn url(&self) -> Result<String> {
        Ok(self.call(reqwest::Method::GET, "/url", None).await?.as_str().unwrap_or_default().to_owned())
    }

    pub async fn source(&self) -> Result<String> {
        Ok(self.call(reqwest::Method::GET, "/source", None).await?.as_str().unwrap_or_default().to_owned())
    }

    async fn element(&self, css: &str) -> Result<String> {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await?;
        found[ELEMENT].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no element {css}"))
    }

    /// Waits up to 10 s for an element to appear (pages load after clicks).
    pub async fn wait_for(&self, css: &str) -> Result<()> {
        for _ in 0..100 {
            if self.element(css).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{css} did not appear; the page is {}:\n{}", self.url().await?, self.source().await?)
    }

    pub async fn fill(&self, css: &str, text: &str) -> Result<()> {
        let id = self.element(css).await?;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({ "text": text }))).await.map(drop)
    }

    pub async fn click(&self, css: &str) -> Result<()> {
        let id = self.element(css).await?;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await.map(drop)
    }

    pub async fn text(&self, css: &str) -> Result<String> {
        let id = self.element(css).await?;
        Ok(self
            .call(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Saves a PNG of the viewport as `<artifacts>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> Result<PathBuf> {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default())?;
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn quit(mut self) -> Result<()> {
        let _ = self.call(reqwest::Method::DELETE, "", None).await;
        let _ = self.driver.kill().await;
        Ok(())
    }
}

/// What arrived at the callback: the method, and the query or form body.
#[derive(Debug, Clone)]
pub struct Callback {
    pub method: String,
    pub path: String,
    pub params: Vec<(String, String)>,
}

impl Callback {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// An application's loopback redirect endpoint: answers every request with a short page and
/// reports what came.
pub struct CallbackServer {
    pub base_url: String,
    received: mpsc::Receiver<Callback>,
}

impl CallbackServer {
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let (tx, received) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    // Read the head, then as much body as Content-Length says.
                    loop {
                        let Ok(n) = stream.read(&mut chunk).await else { return };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).into_owned();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                let request_line = text.lines().next().unwrap_or_default().to_owned();
                                let mut parts = request_line.split(' ');
                                let method = parts.next().unwrap_or_default().to_owned();
                                let target = parts.next().unwrap_or_default().to_owned();
                                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                                let body = &text[end + 4..];
                                let raw = if method == "POST" { body } else { query };
                                let params = form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
                                let page =
                                    "<!doctype html><title>Signed in</title><p id=\"done\">You can close this tab.</p>";
                                let reply = format!(
                                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                                    page.len()
                                );
                                let _ = stream.write_all(reply.as_bytes()).await;
                                if path != "/favicon.ico" {
                                    let _ = tx.send(Callback { method, path: path.to_owned(), params }).await;
                                }
                                return;
                            }
                        }
                    }
                });
            }
        });
        Ok(Self { base_url, received })
    }

    /// The next request that arrived, waiting up to 10 s.
    pub async fn next(&mut self) -> Result<Callback> {
        tokio::time::timeout(Duration::from_secs(10), self.received.recv())
            .await
            .map_err(|_| anyhow!("nothing arrived at the callback"))?
            .ok_or_else(|| anyhow!("callback server stopped"))
    }
}
