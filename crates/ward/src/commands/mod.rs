//! One module per subcommand.

mod admin;
mod check_config;
mod migrate;
mod serve;

use anyhow::Context as _;
use ward_config::{Config, Overrides};

use crate::cli::{Cli, Command, GlobalArgs};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli.global)?;
    // `serve` logs it once logging is set up.
    if !config.ignored_env.is_empty() && !matches!(cli.command, Command::Serve) {
        eprintln!("warning: {IGNORED_ENV}: {}", config.ignored_env.join(", "));
    }
    match cli.command {
        Command::Serve => serve::run(config).await,
        Command::Migrate => migrate::run(config).await,
        Command::CheckConfig => check_config::run(&config),
        Command::Admin(command) => admin::run(config, command, cli.global.database).await,
    }
}

/// What Ward says of `WARD_*` variables that name no setting (their names follow; never values).
const IGNORED_ENV: &str = "ignoring WARD_* environment variables that name no setting";

fn load_config(global: &GlobalArgs) -> anyhow::Result<Config> {
    let overrides = Overrides {
        listen: global.listen,
        data_dir: global.data_dir.clone(),
        issuer: global.issuer.clone(),
        database: global.database.clone(),
    };
    ward_config::load(global.config.as_deref(), std::env::vars(), &overrides).context("configuration")
}
