//! Commands of many clients share a few Redis connections, pipelined, as twemproxy and webdis
//! share theirs: one write carries every command waiting for a connection, and the replies,
//! which Redis sends in order, go back to their senders in order. Sharing is safe for commands
//! that leave no state on a connection — not MULTI/WATCH, subscriptions, blocking commands or
//! a RESP3 client's, for which a gate session takes a connection of its own — each already
//! rewritten into its own caller's namespace.
//!
//! The connections are opened (and logged in as the account) when first needed, on the runtime
//! that first needs them, and again after one fails; a failure fails the senders whose replies
//! had not come, and only those.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::BytesMut;
use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, oneshot};

use super::upstream::{Connection, Login, Upstream};

/// Commands waiting for their replies: `replies` of them, in `commands`.
struct Job {
    commands: BytesMut,
    replies: usize,
    reply: oneshot::Sender<io::Result<Vec<u8>>>,
}

/// Jobs in one write, at most: a bound on what one slow reply can hold up.
const MAX_BATCH: usize = 128;
/// Jobs waiting for one connection, at most, before senders wait to enqueue.
const QUEUE: usize = 1024;
/// The shared connections speak RESP2.
pub const PROTOCOL: u8 = 2;

/// One account's shared connections.
pub struct Pipelines {
    upstream: Arc<Upstream>,
    login: Login,
    connections: usize,
    lanes: OnceLock<Vec<mpsc::Sender<Job>>>,
    next: AtomicUsize,
}

/// The replies to what was sent, all of them, once they are in.
pub type Replies = oneshot::Receiver<io::Result<Vec<u8>>>;

impl Pipelines {
    pub fn new(upstream: Arc<Upstream>, login: Login, connections: usize) -> Self {
        Self { upstream, login, connections: connections.max(1), lanes: OnceLock::new(), next: AtomicUsize::new(0) }
    }

    /// Sends `commands` (RESP, already in the caller's namespace), `replies` of them; the
    /// receiver gets their replies, concatenated. Commands sent by one caller one after another
    /// are answered in that order.
    pub async fn send(&self, commands: BytesMut, replies: usize, lane_hint: usize) -> io::Result<Replies> {
        let lanes = self.lanes.get_or_init(|| {
            (0..self.connections)
                .map(|_| {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    tokio::spawn(serve_lane(self.upstream.clone(), self.login.clone(), rx));
                    tx
                })
                .collect()
        });
        let lane = &lanes[lane_hint % lanes.len()];
        let (reply, replied) = oneshot::channel();
        lane.send(Job { commands, replies, reply })
            .await
            .map_err(|_| io::Error::other("the connection task stopped"))?;
        Ok(replied)
    }

    /// Succeeds once `lane` has a connection to Redis: opened (and logged in) now if it has
    /// none, so a client signing in hears at once that Redis cannot be reached.
    pub async fn ready(&self, lane: usize) -> io::Result<()> {
        let replied = self.send(BytesMut::new(), 0, lane).await?;
        replied.await.map_err(|_| io::Error::other("the connection closed before replying"))?.map(drop)
    }

    /// A lane for a caller with no lane of its own: the next in turn.
    pub fn any_lane(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends one command and waits for its reply.
    pub async fn call(&self, command: BytesMut) -> io::Result<Vec<u8>> {
        let replied = self.send(command, 1, self.any_lane()).await?;
        replied.await.map_err(|_| io::Error::other("the connection closed before replying"))?
    }
}

/// One connection's task: a batch of whatever is waiting, one write, its replies in order.
async fn serve_lane(upstream: Arc<Upstream>, login: Login, mut jobs: mpsc::Receiver<Job>) {
    let mut conn: Option<Connection> = None;
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut out = Vec::new();
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if conn.is_none() {
            match upstream.connect(&login, PROTOCOL).await {
                Ok(fresh) => conn = Some(fresh),
                Err(e) => {
                    tracing::warn!(user = %login.user, error = %e, "cannot open a shared connection to Redis");
                    fail(&mut batch, &e.to_string());
                    continue;
                }
            }
        }
        let Some(live) = conn.as_mut() else { continue };
        if let Err(e) = exchange(live, &mut batch, &mut out).await {
            tracing::warn!(user = %login.user, error = %e, "a shared connection to Redis failed");
            fail(&mut batch, &e.to_string());
            conn = None;
        }
    }
}

/// Writes the batch's commands at once, then hands each job its replies, in order. Every job
/// is sent, even one whose sender has gone: later jobs of the same sender may depend on it
/// (a SET before a GET), and its reply must be read to keep the rest in step.
async fn exchange(conn: &mut Connection, batch: &mut Vec<Job>, out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    for job in batch.iter() {
        out.extend_from_slice(&job.commands);
    }
    conn.stream.write_all(out).await?;
    // On a failure the jobs not yet answered are dropped: their senders hear of it.
    for job in batch.drain(..) {
        let mut replies = Vec::new();
        for _ in 0..job.replies {
            conn.read_value_into(&mut replies).await?;
        }
        let _ = job.reply.send(Ok(replies));
    }
    if out.capacity() > 1 << 20 {
        *out = Vec::new();
    }
    Ok(())
}

fn fail(batch: &mut Vec<Job>, why: &str) {
    for job in batch.drain(..) {
        let _ = job.reply.send(Err(io::Error::other(why.to_owned())));
    }
}
