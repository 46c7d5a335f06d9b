//! `ward serve`: the composition root. Configuration in; the issuer and the gates it
//! configures running until a signal asks them to drain and stop.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use ward_config::Config;
use ward_core::SystemClock;
use ward_pg::gate::threads::GateThreads;
use ward_pg::gate::{Gate, trust_policies};
use ward_server::router::RouterLimits;
use ward_server::serve::ServeOptions;
use ward_server::{AppState, Server, telemetry};
use ward_token::OsEntropy;
use ward_token::remote::RemoteVerifier;

pub async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init_logging(&config.log).map_err(anyhow::Error::msg)?;
    if !config.ignored_env.is_empty() {
        tracing::warn!(variables = %config.ignored_env.join(", "), "{}", super::IGNORED_ENV);
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();

    let mut issuer_store = None;
    if config.issuer_enabled {
        let oauth = Arc::new(ward_server::start_issuer(&config, Arc::new(SystemClock), Arc::new(OsEntropy)).await?);
        let admin_password = std::env::var(ward_server::first_start::ADMIN_PASSWORD_ENV).ok();
        ward_server::first_start::provision(&config, oauth.store(), &SystemClock, &OsEntropy, admin_password).await?;
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
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(
            listen = %server.local_addr()?,
            issuer = %config.issuer,
            database = %config.database_url(),
            kid = %oauth.keyring().signing_key(oauth.clock().now()).kid(),
            "ward issuer ready"
        );
        tasks.spawn(server.run(stopped(stop_rx.clone())));
        issuer_store = Some(oauth);
    } else {
        // Gates alone still answer /health and /metrics on `listen`.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        tracing::info!(listen = %listener.local_addr()?, "health and metrics ready (issuer disabled)");
        let ops = ward_server::router::ops_router(telemetry::prometheus());
        let stop = stopped(stop_rx.clone());
        tasks.spawn(async move {
            if let Err(e) = axum::serve(listener, ops).with_graceful_shutdown(stop).await {
                tracing::error!(error = %e, "health and metrics server failed");
            }
        });
    }

    // Gates verify tokens locally; the verifier's background refresh lives as long as they do.
    let mut _refresher = None;
    if !config.gate.postgres.is_empty() {
        let verifier =
            RemoteVerifier::new(trust_policies(&config.trust).map_err(anyhow::Error::msg)?, Arc::new(SystemClock));
        _refresher = Some(verifier.start().await);
        let env = |var: &str| std::env::var(var).ok();
        for gate_config in &config.gate.postgres {
            let upstream = format!(
                "{}:{}/{}",
                gate_config.upstream.host, gate_config.upstream.port, gate_config.upstream.database
            );
            if gate_config.threads > 1 {
                let gates = Gate::per_thread(gate_config, verifier.clone(), &config.trust, Arc::new(OsEntropy), env)
                    .map_err(|e| anyhow::anyhow!("gate on {}: {e}", gate_config.listen))?;
                let gates = gates.into_iter().map(Arc::new).collect();
                let stop = stop_rx.clone();
                let threads = GateThreads::start(gates, gate_config.listen, move || stopped(stop.clone()))
                    .with_context(|| format!("gate cannot listen on {}", gate_config.listen))?;
                tracing::info!(listen = %threads.local_addr(), %upstream, threads = gate_config.threads, "PostgreSQL gate ready");
                tasks.spawn(threads.join());
                continue;
            }
            let gate = Gate::new(gate_config.clone(), verifier.clone(), &config.trust, Arc::new(OsEntropy), env)
                .map_err(|e| anyhow::anyhow!("gate on {}: {e}", gate_config.listen))?;
            let bound =
                Arc::new(gate).bind().await.with_context(|| format!("gate cannot listen on {}", gate_config.listen))?;
            tracing::info!(listen = %bound.local_addr()?, %upstream, "PostgreSQL gate ready");
            tasks.spawn(bound.run(stopped(stop_rx.clone())));
        }
    }

    tokio::select! {
        () = shutdown_signal() => {}
        // A listener that ends on its own has failed; stop the rest too.
        Some(_) = tasks.join_next() => tracing::error!("a listener stopped unexpectedly; shutting down"),
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    if let Some(oauth) = issuer_store {
        oauth.store().close().await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Completes when the stop flag is raised.
async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            return;
        }
    }
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
