//! `ward migrate`: bring the database schema up to date and exit.

use ward_config::Config;

pub async fn run(config: Config) -> anyhow::Result<()> {
    let store = ward_server::bootstrap::open_store(&config).await?;
    let version = store.schema_version().await?;
    println!("database {} is at schema version {version}", config.database_url());
    store.close().await;
    Ok(())
}
