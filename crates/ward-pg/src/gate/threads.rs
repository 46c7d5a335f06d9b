//! A gate on threads of its own (`threads = N > 1`). Each thread runs a single-threaded
//! runtime with its own listener on the gate's port — the kernel spreads new clients across
//! them (SO_REUSEPORT) — and its own share of every pool, so a transaction never waits on
//! another thread: no cross-thread wake-ups, no locks or cache lines bouncing between cores.
//! Cancel keys and the client limit are shared, since a CancelRequest may reach any thread.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};

use super::{BoundGate, Gate};

/// The running threads of one gate.
pub struct GateThreads {
    addr: SocketAddr,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl GateThreads {
    /// Binds one listener per gate on `listen` (all on the port the first one got, when
    /// `listen` asks for port 0), then starts a thread per gate. Each accepts until `stop`
    /// completes; sessions it holds then end with its runtime.
    pub fn start<F, S>(gates: Vec<Arc<Gate>>, listen: SocketAddr, stop: F) -> io::Result<Self>
    where
        F: Fn() -> S,
        S: Future<Output = ()> + Send + 'static,
    {
        let mut addr = listen;
        let mut listeners = Vec::with_capacity(gates.len());
        for _ in &gates {
            let listener = bind_shared(addr)?;
            addr = listener.local_addr()?;
            listeners.push(listener);
        }
        let mut handles = Vec::with_capacity(gates.len());
        for (index, (gate, listener)) in gates.into_iter().zip(listeners).enumerate() {
            let stop = stop();
            let handle = std::thread::Builder::new()
                .name(format!("ward-pg-{}-{index}", addr.port()))
                .spawn(move || serve_on_this_thread(gate, listener, stop))?;
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

fn serve_on_this_thread(gate: Arc<Gate>, listener: std::net::TcpListener, stop: impl Future<Output = ()> + Send) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start a gate thread's runtime");
            return;
        }
    };
    runtime.block_on(async move {
        match TcpListener::from_std(listener) {
            Ok(listener) => BoundGate { listener, gate }.run(stop).await,
            Err(e) => tracing::error!(error = %e, "a gate thread cannot use its listener"),
        }
    });
}
