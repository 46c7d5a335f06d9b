//! The `ward` binary as a user runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod admin;
mod client;
mod config;
mod gate;
mod psql18;
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

pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
