//! The `ward` binary: parses the command line and hands off to one module per subcommand.
//!
//! - [`cli`] — the clap definitions.
//! - [`commands`] — `serve`, `migrate`, `check-config`, `admin …`.

mod cli;
mod commands;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ward: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ward: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
