//! The `ward` binary as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod admin;
mod client;
mod config;
mod data_api;
mod gate;
mod psql18;
mod redis_gate;
mod serve;

use std::path::Path;
use std::process::{Command, Output};

/// `ward` with a clean environment: no WARD_* from the caller leaks in.
pub fn ward(data_dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ward"));
    for (key, _) in std::env::vars() {
        if key.starts_with("WARD_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--data-dir").arg(data_dir);
    cmd
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("spawning ward: {e}"));
    assert!(
        out.status.success(),
        "ward failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn run_err(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("spawning ward: {e}"));
    assert!(!out.status.success(), "ward should have failed: {}", String::from_utf8_lossy(&out.stdout));
    out
}

/// A node for `ward serve`: a data directory, the issuer's port and a gate's port.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub http: u16,
    /// The gate's port.
    pub port: u16,
    /// The issuer's URL, `http://127.0.0.1:<http>`.
    pub issuer: String,
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}

impl Node {
    pub fn new() -> Self {
        let (http, port) = (ward_testkit::pg::free_port().unwrap(), ward_testkit::pg::free_port().unwrap());
        Self { dir: tempfile::tempdir().unwrap(), http, port, issuer: format!("http://127.0.0.1:{http}") }
    }

    /// The configuration's start: the issuer on `http`, `extra` top-level settings, and a
    /// `[[trust]]` of the issuer itself. Gate sections follow.
    pub fn config_head(&self, extra: &str) -> String {
        format!(
            "issuer = \"{issuer}\"\nlisten = \"127.0.0.1:{http}\"\n{extra}\n\n[[trust]]\nissuer = \"{issuer}\"\n",
            issuer = self.issuer,
            http = self.http
        )
    }

    /// `ward admin …` against this node's configuration; its standard output.
    pub fn admin(&self, args: &[&str]) -> String {
        run_ok(self.ward_with_config().arg("admin").args(args))
    }

    /// `ward --config <this node's>`, for any command.
    pub fn ward_with_config(&self) -> Command {
        let mut cmd = ward(&self.dir.path().join("data"));
        cmd.arg("--config").arg(self.dir.path().join("ward.toml"));
        cmd
    }

    /// A client-credentials token for `client_id` from this node's issuer.
    pub async fn client_credentials(&self, client_id: &str, secret: &str) -> String {
        let body: serde_json::Value = reqwest::Client::new()
            .post(format!("{}/oauth/token", self.issuer))
            .basic_auth(client_id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
