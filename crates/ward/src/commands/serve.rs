//! `ward serve`: the composition root. Configuration in; the issuer and the gates it
//! configures running until a signal asks them to drain and stop.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::watch;
use ward_config::Config;
use ward_core::SystemClock;
use ward_pg::gate::GateDeps;
use ward_server::router::RouterLimits;
use ward_server::serve::ServeOptions;
use ward_server::{AppState, Server, telemetry};
use ward_token::OsEntropy;
use ward_token::remote::RemoteVerifier;

pub async fn run(config: Config) -> anyhow::Result<()> {
    telemetry::init_logging(&config.log)?;
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
    if !config.gate.is_empty() {
        let clock: Arc<dyn ward_core::Clock> = Arc::new(SystemClock);
        let verifier = RemoteVerifier::new(ward_gate::trust::policies(&config.trust), clock.clone());
        _refresher = Some(verifier.start().await);
        let deps = GateDeps { verifier, entropy: Arc::new(OsEntropy), clock };
        let env = |var: &str| std::env::var(var).ok();
        for gate in &config.gate.postgres {
            let stop = stop_rx.clone();
            let started = ward_pg::gate::start(gate, &config.trust, deps.clone(), env, move || stopped(stop.clone()))
                .await
                .with_context(|| format!("PostgreSQL gate on {}", gate.listen))?;
            let upstream = format!("{}:{}/{}", gate.upstream.host, gate.upstream.port, gate.upstream.database);
            let addr = started.running.local_addr();
            tracing::info!(listen = %addr, %upstream, threads = gate.threads, "PostgreSQL gate ready");
            tasks.spawn(started.running.join());
        }
        for gate in &config.gate.redis {
            let stop = stop_rx.clone();
            let verifier = deps.verifier.clone();
            let started =
                ward_redis::gate::start(gate, verifier, deps.clock.clone(), env, move || stopped(stop.clone()))
                    .await
                    .with_context(|| format!("Redis gate on {}", gate.listen))?;
            let upstream = format!("{}:{}/{}", gate.upstream.host, gate.upstream.port, gate.upstream.database);
            let addr = started.running.local_addr();
            tracing::info!(listen = %addr, %upstream, threads = gate.threads, "Redis gate ready");
            tasks.spawn(started.running.join());
        }
        if let Some(http) = &config.gate.http {
            let stop = stop_rx.clone();
            let verifier = deps.verifier.clone();
            let api = ward_data_api::start(http, &config.gate, verifier, env, move || stopped(stop.clone()))
                .await
                .with_context(|| format!("HTTP data API on {}", http.listen))?;
            let (postgres, redis) = (http.postgres.as_deref().unwrap_or("-"), http.redis.as_deref().unwrap_or("-"));
            let threads = http.threads;
            tracing::info!(listen = %api.local_addr(), postgres, redis, threads, "HTTP data API ready");
            tasks.spawn(api.join());
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
