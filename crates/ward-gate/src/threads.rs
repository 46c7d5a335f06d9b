//! A gate on threads of its own (`threads = N > 1`). Each thread runs a single-threaded
//! runtime with its own listener on the gate's port — the kernel spreads new clients across
//! them (SO_REUSEPORT) — and its own service (with its share of every pool), so a client's
//! work never waits on another thread: no cross-thread wake-ups, no locks or cache lines
//! bouncing between cores. The client limit is shared.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};

use crate::listener::{ClientPermits, Service, accept_loop};

/// The running threads of one gate.
pub struct GateThreads {
    addr: SocketAddr,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl GateThreads {
    /// Binds one listener per service on `listen` (all on the port the first one got, when
    /// `listen` asks for port 0), then starts a thread per service. Each accepts until `stop`
    /// completes; sessions it holds then end with its runtime.
    pub fn start<S, F, Fut>(
        services: Vec<Arc<S>>,
        listen: SocketAddr,
        permits: ClientPermits,
        stop: F,
    ) -> io::Result<Self>
    where
        S: Service,
        F: Fn() -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut addr = listen;
        let mut listeners = Vec::with_capacity(services.len());
        for _ in &services {
            let listener = bind_shared(addr)?;
            addr = listener.local_addr()?;
            listeners.push(listener);
        }
        let mut handles = Vec::with_capacity(services.len());
        for (index, (service, listener)) in services.into_iter().zip(listeners).enumerate() {
            let stop = stop();
            let permits = permits.clone();
            let handle = std::thread::Builder::new()
                .name(format!("ward-gate-{}-{index}", addr.port()))
                .spawn(move || serve_on_this_thread(service, listener, permits, stop))?;
            handles.push(handle);
        }
        Ok(Self { addr, handles })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits for every thread to finish (after `stop`).
    pub async fn join(self) {
        let handles = self.handles;
        let joined = tokio::task::spawn_blocking(move || {
            for handle in handles {
                if handle.join().is_err() {
                    tracing::error!("a gate thread panicked");
                }
            }
        });
        let _ = joined.await;
    }
}

/// A listening socket that other listeners may share (SO_REUSEPORT), handed over as a std
/// listener so that the thread that serves it registers it with its own runtime.
fn bind_shared(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    let std: std::net::TcpListener = socket.listen(1024)?.into_std()?;
    Ok(std)
}

fn serve_on_this_thread<S: Service>(
    service: Arc<S>,
    listener: std::net::TcpListener,
    permits: ClientPermits,
    stop: impl Future<Output = ()> + Send,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a gate thread's runtime");
            return;
        }
    };
    runtime.block_on(async move {
        match TcpListener::from_std(listener) {
            Ok(listener) => accept_loop(listener, service, permits, stop).await,
            Err(e) => tracing::error!(error = %e, "a gate thread cannot use its listener"),
        }
    });
}
