//! The accept loop. hyper directly rather than `axum::serve`, for what a public endpoint
//! needs: a header-read timeout against slow clients, a cap on open connections, and a
//! graceful shutdown that drains in-flight requests within a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use ward_oauth::AuthorizationServer;
use ward_store::SqlStore;

/// How often expired revocations and assertion ids are deleted.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(600);

pub struct ServeOptions {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
}

pub struct Server {
    listener: TcpListener,
    router: Router,
    oauth: Arc<AuthorizationServer<SqlStore>>,
    options: ServeOptions,
}

impl Server {
    pub async fn bind(
        addr: SocketAddr,
        router: Router,
        oauth: Arc<AuthorizationServer<SqlStore>>,
        options: ServeOptions,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        Ok(Self { listener, router, oauth, options })
    }

    /// Serves on a listener bound beforehand (tests bind port 0 first to learn the issuer URL).
    pub fn from_listener(
        listener: TcpListener,
        router: Router,
        oauth: Arc<AuthorizationServer<SqlStore>>,
        options: ServeOptions,
    ) -> Self {
        Self { listener, router, oauth, options }
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits up to the grace
    /// period for open requests to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) {
        let Self { listener, router, oauth, options } = self;
        let jobs = tokio::spawn(background_jobs(oauth));
        let graceful = GracefulShutdown::new();
        let permits = Arc::new(Semaphore::new(options.max_connections));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new()).header_read_timeout(options.header_read_timeout).keep_alive(true);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            // The peer address, for sign-in throttling per address.
            let service = TowerToHyperService::new(tower::Layer::layer(
                &axum::Extension(axum::extract::ConnectInfo(peer)),
                router.clone(),
            ));
            let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                let _ = connection.await;
                drop(permit);
            });
        }
        drop(listener);
        tracing::info!("shutting down: draining open requests");
        if tokio::time::timeout(options.shutdown_grace, graceful.shutdown()).await.is_err() {
            tracing::warn!(grace = ?options.shutdown_grace, "some requests were still open after the grace period");
        }
        jobs.abort();
    }
}

async fn background_jobs(oauth: Arc<AuthorizationServer<SqlStore>>) {
    let mut reload = tokio::time::interval(oauth.settings().key_reload_interval);
    let mut purge = tokio::time::interval(PURGE_INTERVAL);
    reload.tick().await;
    loop {
        tokio::select! {
            _ = reload.tick() => {
                if let Err(e) = oauth.reload_keys().await {
                    tracing::warn!(error = %e, "reloading signing keys failed; keeping the current ones");
                }
            }
            _ = purge.tick() => match oauth.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(rows = n, "purged expired revocations and assertion ids"),
                Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
            },
        }
    }
}
