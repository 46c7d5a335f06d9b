//! One module per subcommand.

mod admin;
mod check_config;
mod client;
mod migrate;
mod serve;

use anyhow::Context as _;
use ward_config::{Config, Overrides};

use crate::cli::{Cli, Command, ServerArgs, ServerScope};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let server = |scope: &ServerScope, serving: bool| -> anyhow::Result<(Config, ServerArgs)> {
        let args = cli.server.merged(scope);
        let config = load_config(&args)?;
        // `serve` logs it once logging is set up.
        if !config.ignored_env.is_empty() && !serving {
            eprintln!("warning: {IGNORED_ENV}: {}", config.ignored_env.join(", "));
        }
        Ok((config, args))
    };
    match cli.command {
        Command::Serve(scope) => serve::run(server(&scope, true)?.0).await,
        Command::Migrate(scope) => migrate::run(server(&scope, false)?.0).await,
        Command::CheckConfig(scope) => check_config::run(&server(&scope, false)?.0),
        Command::Admin { server: scope, command } => {
            let (config, args) = server(&scope, false)?;
            admin::run(config, command, args.database).await
        }
        client_command => {
            anyhow::ensure!(
                !cli.server.any_flag(),
                "--data-dir, --listen, --database and a --issuer before the command are server flags; \
                 client commands take --profile, and --issuer after the command"
            );
            client::run(client_command).await
        }
    }
}

/// What Ward says of `WARD_*` variables that name no setting (their names follow; never values).
const IGNORED_ENV: &str = "ignoring WARD_* environment variables that name no setting";

fn load_config(global: &ServerArgs) -> anyhow::Result<Config> {
    let overrides = Overrides {
        listen: global.listen,
        data_dir: global.data_dir.clone(),
        issuer: global.issuer.clone(),
        database: global.database.clone(),
    };
    ward_config::load(global.config.as_deref(), std::env::vars(), &overrides).context("configuration")
}
