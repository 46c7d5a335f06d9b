//! `ward admin pg identity-sql | install`: the `ward` schema whose functions verify the
//! signed identity the PostgreSQL gates set (see `ward_pg::gate::signed_identity`).

use anyhow::{Context as _, bail};
use sqlx::Connection as _;
use ward_config::Config;
use ward_pg::gate::signed_identity::{SCHEMA_SQL, install_sql, resolve_keys};

use crate::cli::PgCommand;

pub async fn run(config: &Config, command: PgCommand, database: Option<String>) -> anyhow::Result<()> {
    match command {
        PgCommand::IdentitySql => {
            print!("{SCHEMA_SQL}");
            Ok(())
        }
        PgCommand::Install => {
            let Some(url) = database else {
                bail!("name the database to install into: ward admin pg install --database postgres://owner@host/app");
            };
            let keys = configured_keys(config)?;
            let mut conn = sqlx::PgConnection::connect(&url).await.context("connecting to the database")?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(install_sql(&keys)))
                .execute(&mut conn)
                .await
                .context("installing the ward schema")?;
            conn.close().await.ok();
            let ids: Vec<&str> = keys.iter().map(|(id, _)| id.as_str()).collect();
            println!(
                "installed the ward schema; identity keys: {}",
                if ids.is_empty() { "none".into() } else { ids.join(", ") }
            );
            Ok(())
        }
    }
}

/// Every gate's identity keys, each id once; one id with two secrets is a mistake.
fn configured_keys(config: &Config) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut keys: Vec<(String, Vec<u8>)> = Vec::new();
    for signed in config.gate.postgres.iter().filter_map(|g| g.signed_identity.as_ref()) {
        for (id, secret) in resolve_keys(signed, |var| std::env::var(var).ok()).map_err(anyhow::Error::msg)? {
            match keys.iter().find(|(known, _)| *known == id) {
                Some((_, known)) if *known != secret => bail!("identity key {id} has two different secrets"),
                Some(_) => {}
                None => keys.push((id, secret)),
            }
        }
    }
    if keys.is_empty() {
        bail!("no [gate.postgres.signed_identity] keys are configured");
    }
    Ok(keys)
}
