//! `ward admin …`: works on the same database as `serve`, also while it runs.

mod client;
mod keys;
mod pg;
mod scope;
mod tls;
mod user;

use serde::Serialize;
use ward_config::Config;
use ward_core::SystemClock;
use ward_oauth::admin::Admin;
use ward_store::SqlStore;
use ward_token::OsEntropy;

use crate::cli::{AdminCommand, Output};

/// `database` is the --database flag as given: `admin pg install` applies to that database,
/// never to the issuer's own by default.
pub async fn run(config: Config, command: AdminCommand, database: Option<String>) -> anyhow::Result<()> {
    match command {
        AdminCommand::Tls(command) => return tls::run(command),
        AdminCommand::Pg(command) => return pg::run(&config, command, database).await,
        _ => {}
    }
    let store = ward_server::bootstrap::open_store(&config).await?;
    let admin = Admin { store: &store, clock: &SystemClock, entropy: &OsEntropy };
    let result = match command {
        AdminCommand::Client(c) => client::run(&admin, c).await,
        AdminCommand::User(c) => user::run(&config, &store, c).await,
        AdminCommand::Scope(c) => scope::run(&admin, c).await,
        AdminCommand::Keys(c) => keys::run(&config, &store, c).await,
        AdminCommand::Tls(_) | AdminCommand::Pg(_) => Ok(()),
    };
    store.close().await;
    result
}

type AdminCtx<'a> = Admin<'a, SqlStore>;

/// Prints `value` as JSON when asked, else as the given text.
fn emit<T: Serialize>(output: Output, value: &T, text: impl FnOnce() -> String) -> anyhow::Result<()> {
    if output.json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        let text = text();
        if !text.is_empty() {
            println!("{}", text.trim_end());
        }
    }
    Ok(())
}

/// Unix seconds as UTC `YYYY-MM-DD HH:MM:SS`, for tables.
/// `YYYY-MM-DD HH:MM:SS`, UTC.
fn format_time(t: i64) -> String {
    ward_core::clock::format_utc(t)
}
