//! `ward serve`: the composition root. Configuration in, a running issuer out, until a
//! signal asks it to drain and stop.

use std::sync::Arc;

use ward_config::Config;
use ward_core::SystemClock;
use ward_server::router::RouterLimits;
use ward_server::serve::ServeOptions;
use ward_server::{AppState, Server, telemetry};
use ward_token::OsEntropy;

pub async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init_logging(&config.log).map_err(anyhow::Error::msg)?;
    let oauth = Arc::new(ward_server::start_issuer(&config, Arc::new(SystemClock), Arc::new(OsEntropy)).await?);
    let state = AppState::new(oauth.clone(), telemetry::prometheus());
    let limits = RouterLimits {
        max_body_bytes: config.http.max_body_bytes,
        request_timeout: config.http.request_timeout,
        access_log: config.log.access_log,
    };
    let options = ServeOptions {
        header_read_timeout: config.http.header_read_timeout,
        max_connections: config.http.max_connections,
        shutdown_grace: config.http.shutdown_grace,
    };
    let server = Server::bind(config.listen, ward_server::router(state, &limits), oauth.clone(), options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    tracing::info!(
        listen = %server.local_addr()?,
        issuer = %config.issuer,
        database = %config.database_url(),
        kid = %oauth.keyring().active().kid(),
        "ward issuer ready"
    );
    server.run(shutdown_signal()).await;
    oauth.store().close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
