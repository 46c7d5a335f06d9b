//! The hardened HTTP accept loop every HTTP listener of Ward runs: the issuer, and the HTTP
//! data API gate. hyper directly rather than `axum::serve`, for what a public endpoint
//! needs: a header-read timeout against slow clients, a cap on open connections, TLS when
//! configured (the handshake bounded by the same timeout), and a graceful shutdown that
//! drains in-flight requests within a grace period. What a listener serves is its router's
//! business; this crate knows nothing of OAuth or gates.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// How a listener treats its connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A client must have sent a request's headers (and finished the TLS handshake) within this.
    pub header_read_timeout: Duration,
    /// Connections open at once; the next waits in the kernel's backlog.
    pub max_connections: usize,
    /// How long open requests get to finish once shutdown starts.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and waits
/// up to the grace period for open requests to finish. Handlers see the peer address as
/// `ConnectInfo<SocketAddr>` (sign-in throttling, audit).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(options.max_connections));
    let http = Arc::new(builder(options.header_read_timeout));
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
        let router = router.clone();
        match &tls {
            None => {
                let watched = graceful.watch(http.serve_connection(TokioIo::new(stream), service(router, peer)));
                tokio::spawn(async move {
                    let _ = watched.await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                // The handshake runs in the connection's task, so a slow one holds up no one;
                // shutdown does not wait for connections still shaking hands.
                let (acceptor, http, limit) = (acceptor.clone(), http.clone(), options.header_read_timeout);
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    if let Ok(Ok(stream)) = tokio::time::timeout(limit, acceptor.accept(stream)).await {
                        let _ = watcher.watch(serve_one(&http, stream, router, peer)).await;
                    }
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining open requests");
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown()).await.is_err() {
        tracing::warn!(grace = ?options.shutdown_grace, "some requests were still open after the grace period");
    }
}

fn builder(header_read_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_read_timeout).keep_alive(true);
    http
}

/// One accepted connection, served as [`serve`] serves each (TLS first when `tls` is given,
/// both bounded by `header_read_timeout`), for a listener that accepts on its own: a gate's
/// threads, each with its own runtime. There is no graceful drain: the connection ends with
/// its runtime.
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    tls: Option<&TlsAcceptor>,
) {
    let http = builder(header_read_timeout);
    match tls {
        None => {
            let _ = serve_one(&http, stream, router, peer).await;
        }
        Some(acceptor) => {
            if let Ok(Ok(stream)) = tokio::time::timeout(header_read_timeout, acceptor.accept(stream)).await {
                let _ = serve_one(&http, stream, router, peer).await;
            }
        }
    }
}

fn serve_one<S>(
    http: &hyper::server::conn::http1::Builder,
    stream: S,
    router: Router,
    peer: SocketAddr,
) -> hyper::server::conn::http1::Connection<TokioIo<S>, Service>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    http.serve_connection(TokioIo::new(stream), service(router, peer))
}

type Service = TowerToHyperService<axum::middleware::AddExtension<Router, axum::extract::ConnectInfo<SocketAddr>>>;

fn service(router: Router, peer: SocketAddr) -> Service {
    TowerToHyperService::new(tower::Layer::layer(&axum::Extension(axum::extract::ConnectInfo(peer)), router))
}
