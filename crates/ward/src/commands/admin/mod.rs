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
fn format_time(t: i64) -> String {
    let (year, month, day) = civil_date(t);
    let secs = t.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The UTC calendar date of unix seconds `t`: (year, month, day).
fn civil_date(t: i64) -> (i64, i64, i64) {
    let days = t.div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_times() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00:00");
        assert_eq!(super::format_time(1_795_000_000), "2026-11-18 11:06:40");
        assert_eq!(super::format_time(951_782_400), "2000-02-29 00:00:00");
    }
}
