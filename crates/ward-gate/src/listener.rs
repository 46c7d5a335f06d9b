//! Accepting clients: one task per client while a permit is free, and a protocol-correct
//! refusal (without reading what the client sent) when none is; then [`RunningGate`], which
//! runs a gate on the process's runtime or on threads of its own, so `ward serve` and the test
//! kit start every gate the same way.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::threads::GateThreads;

/// What a gate does with the clients it accepts.
pub trait Service: Send + Sync + 'static {
    /// One client, from accept to close.
    fn serve(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) -> impl Future<Output = ()> + Send;
    /// The gate is at its client limit: tell the client so, as its protocol says it.
    fn refuse_busy(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) -> impl Future<Output = ()> + Send;
}

/// How many clients a gate serves at once, shared by all of its threads.
pub type ClientPermits = Arc<Semaphore>;

/// Accepts clients on `listener` until `shutdown` completes. Open sessions carry on to their end.
pub async fn accept_loop<S: Service>(
    listener: TcpListener,
    service: Arc<S>,
    permits: ClientPermits,
    shutdown: impl Future<Output = ()> + Send,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors, usually: give sessions a moment to end.
                tracing::warn!(error = %e, "gate accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    service.serve(stream, peer).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(service.refuse_busy(stream, peer));
            }
        }
    }
}

/// A started gate: where it listens, and how to wait for it to stop.
pub struct RunningGate {
    addr: SocketAddr,
    running: Running,
}

enum Running {
    Task(tokio::task::JoinHandle<()>),
    Threads(GateThreads),
}

impl RunningGate {
    /// Starts `services` on `listen`: one service runs on the current runtime; several get a
    /// thread each, with a listener of their own on the same port. Each accepts until the
    /// future `stop()` gives it completes.
    pub async fn start<S, F, Fut>(
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
        if services.len() > 1 {
            let threads = GateThreads::start(services, listen, permits, stop)?;
            return Ok(Self { addr: threads.local_addr(), running: Running::Threads(threads) });
        }
        let service = services.into_iter().next().ok_or_else(|| io::Error::other("a gate with no service"))?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept_loop(listener, service, permits, stop()));
        Ok(Self { addr, running: Running::Task(task) })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Completes when the gate has stopped accepting (after `stop`, or on a failure).
    pub async fn join(self) {
        match self.running {
            Running::Task(task) => {
                if task.await.is_err() {
                    tracing::error!("a gate's accept loop panicked");
                }
            }
            Running::Threads(threads) => threads.join().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Says `hello` and waits for the client to leave; refuses with `busy`.
    struct Greeter;

    impl Service for Greeter {
        async fn serve(self: Arc<Self>, mut stream: TcpStream, _peer: SocketAddr) {
            let _ = stream.write_all(b"hello").await;
            let _ = stream.read(&mut [0u8; 1]).await;
        }
        async fn refuse_busy(self: Arc<Self>, mut stream: TcpStream, _peer: SocketAddr) {
            let _ = stream.write_all(b"busy").await;
        }
    }

    async fn greeting(addr: SocketAddr) -> (TcpStream, String) {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        let mut buf = [0u8; 5];
        let n = stream.read(&mut buf).await.expect("reads");
        (stream, String::from_utf8_lossy(&buf[..n]).into_owned())
    }

    #[tokio::test]
    async fn clients_over_the_limit_are_refused_until_a_permit_frees() {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let gate = RunningGate::start(vec![Arc::new(Greeter)], listen, Arc::new(Semaphore::new(1)), stop)
            .await
            .expect("starts");
        let addr = gate.local_addr();
        let (first, said) = greeting(addr).await;
        assert_eq!(said, "hello");
        assert_eq!(greeting(addr).await.1, "busy");
        drop(first);
        // The permit comes back when the first session ends.
        let mut said = String::new();
        for _ in 0..50 {
            said = greeting(addr).await.1;
            if said == "hello" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(said, "hello");
        let _ = stop_tx.send(true);
        tokio::time::timeout(Duration::from_secs(5), gate.join()).await.expect("stops when asked");
    }
}
