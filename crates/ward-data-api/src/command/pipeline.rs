//! Commands of many requests share a few Redis connections, pipelined, as webdis and
//! twemproxy share theirs: one write carries every command waiting for a connection, and the
//! replies, which Redis sends in order, go back to their requests in order. Sharing is safe
//! because `/command` serves only commands that leave no state on a connection (no MULTI,
//! WATCH, SUBSCRIBE or blocking command, no SELECT or CLIENT), each rewritten into its own
//! caller's namespace before it gets here.
//!
//! A connection is opened (and logged in as the account) when first needed, and again after
//! it fails; a failure fails the requests whose replies had not come, and only those.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::AsyncWriteExt as _;
use tokio::sync::{mpsc, oneshot};
use ward_redis::gate::upstream::{Connection, Login, Upstream};

/// One command waiting for its reply.
struct Job {
    command: Vec<u8>,
    reply: oneshot::Sender<io::Result<Vec<u8>>>,
}

/// Commands in one write, at most: a bound on what one slow reply can hold up.
const MAX_BATCH: usize = 128;
/// Commands waiting for one connection, at most, before callers wait to enqueue.
const QUEUE: usize = 1024;
/// The connections speak RESP2; replies map to JSON the same either way.
const PROTOCOL: u8 = 2;

/// One account's connections.
pub struct Pipelines {
    lanes: Vec<mpsc::Sender<Job>>,
    next: AtomicUsize,
}

impl Pipelines {
    /// `connections` lanes to Redis as `login`, each served by a task of its own.
    pub fn start(upstream: Arc<Upstream>, login: Login, connections: usize) -> Self {
        let lanes = (0..connections.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(QUEUE);
                tokio::spawn(serve_lane(upstream.clone(), login.clone(), rx));
                tx
            })
            .collect();
        Self { lanes, next: AtomicUsize::new(0) }
    }

    /// Sends `command` (RESP, already in the caller's namespace) and waits for its reply.
    pub async fn call(&self, command: Vec<u8>) -> io::Result<Vec<u8>> {
        let lane = &self.lanes[self.next.fetch_add(1, Ordering::Relaxed) % self.lanes.len()];
        let (reply, replied) = oneshot::channel();
        lane.send(Job { command, reply }).await.map_err(|_| io::Error::other("the connection task stopped"))?;
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
        // Requests that gave up (their HTTP request timed out) need no command sent.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        if conn.is_none() {
            match upstream.connect(&login, PROTOCOL).await {
                Ok(fresh) => conn = Some(fresh),
                Err(e) => {
                    tracing::warn!(user = %login.user, error = %e, "cannot connect to Redis for /command");
                    fail(&mut batch, &e.to_string());
                    continue;
                }
            }
        }
        let Some(live) = conn.as_mut() else { continue };
        if let Err(e) = exchange(live, &mut batch, &mut out).await {
            tracing::warn!(user = %login.user, error = %e, "a /command connection to Redis failed");
            fail(&mut batch, &e.to_string());
            conn = None;
        }
    }
}

/// Writes the batch's commands at once, then hands each reply to its job, in order.
async fn exchange(conn: &mut Connection, batch: &mut Vec<Job>, out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    for job in batch.iter() {
        out.extend_from_slice(&job.command);
    }
    conn.stream.write_all(out).await?;
    for job in batch.drain(..) {
        let reply = conn.read_value().await?;
        let _ = job.reply.send(Ok(reply));
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
