//! Refresh-token inserts, committed in groups. Every refresh writes one row; one statement per
//! row would put each request through the single SQLite writer connection one at a time — a
//! pool hand-off and two thread switches each — which caps rotation near 3,000/s on two cores.
//! Instead, one task owns the writing: it takes every insert waiting, writes them with one
//! multi-row `INSERT … ON CONFLICT DO NOTHING RETURNING`, and tells each caller whether its
//! row went in. A row that did not conflicted on its parent: another request rotated that
//! token first (the unique key still decides, across nodes too).

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};
use ward_core::UnixTime;

use crate::error::{Result, StoreError};

/// Rows per statement at most (6 parameters each; far below either backend's limit).
const MAX_GROUP: usize = 64;
/// Inserts waiting for the writer before callers wait to queue.
const QUEUE: usize = 1024;

pub(crate) struct PendingInsert {
    pub token_hash: String,
    pub grant_id: String,
    pub scopes: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub parent_hash: Option<String>,
}

type Reply = oneshot::Sender<Result<bool>>;

#[derive(Clone, Debug)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<(PendingInsert, Reply)>,
}

impl GroupCommit {
    pub(crate) fn spawn(pool: AnyPool) -> Self {
        let (queue, mut pending) = mpsc::channel::<(PendingInsert, Reply)>(QUEUE);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(MAX_GROUP);
            while pending.recv_many(&mut group, MAX_GROUP).await > 0 {
                write(&pool, std::mem::take(&mut group)).await;
            }
        });
        Self { queue }
    }

    /// Inserts the row; false when it conflicted (its parent already has a successor).
    pub(crate) async fn insert(&self, row: PendingInsert) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Shared("the refresh-token writer has stopped".into());
        self.queue.send((row, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn write(pool: &AnyPool, group: Vec<(PendingInsert, Reply)>) {
    let mut sql = String::from(
        "INSERT INTO refresh_tokens (token_hash, grant_id, scopes, created_at, expires_at, parent_hash) VALUES ",
    );
    for i in 0..group.len() {
        let p = i * 6;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${}, ${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4, p + 5, p + 6));
    }
    sql.push_str(" ON CONFLICT DO NOTHING RETURNING token_hash");
    // Only placeholders are formatted into the text; every value is bound.
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
    for (row, _) in &group {
        query = query
            .bind(row.token_hash.clone())
            .bind(row.grant_id.clone())
            .bind(row.scopes.clone())
            .bind(row.created_at)
            .bind(row.expires_at)
            .bind(row.parent_hash.clone());
    }
    match query.fetch_all(pool).await {
        Ok(inserted) => {
            for (row, reply) in group {
                let _ = reply.send(Ok(inserted.contains(&row.token_hash)));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for (_, reply) in group {
                let _ = reply.send(Err(StoreError::Shared(message.clone())));
            }
        }
    }
}
