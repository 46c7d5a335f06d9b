//! The issuer's listener: the shared accept loop ([`ward_http::serve`]) with the issuer's
//! background jobs (signing-key reload, purge of expired rows) running beside it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use ward_oauth::AuthorizationServer;
use ward_store::SqlStore;

pub use ward_http::ServeOptions;

/// How often expired revocations and assertion ids are deleted.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(600);

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
        ward_http::serve(listener, router, options, None, shutdown).await;
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
