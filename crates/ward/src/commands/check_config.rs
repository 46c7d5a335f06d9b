//! `ward check-config`: the configuration as `serve` would use it, secrets redacted.

use ward_config::Config;

pub fn run(config: &Config) -> anyhow::Result<()> {
    print!("{}", config.to_redacted_toml());
    Ok(())
}
