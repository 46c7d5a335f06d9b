//! Where a session's commands go. A signed-in session starts on its account's shared
//! connections ([`crate::gate::pipeline`]): its commands travel with other sessions' in one
//! write, on one lane so they stay in order. A command that would leave state on a connection
//! — MULTI, WATCH, a subscription, a blocking command — or a switch to RESP3 first moves the
//! session to a connection of its own, once every reply owed on the shared one is in; it keeps
//! that connection to the end.

use std::collections::VecDeque;
use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::commands::Spec;
use crate::dispatch::ReplyShape;
use crate::gate::pipeline::{Pipelines, Replies};
use crate::gate::upstream::{Lease, Pool};

pub(super) enum Link<'a> {
    /// Not signed in.
    None,
    Shared {
        pipelines: &'a Pipelines,
        lane: usize,
        /// Replies on their way, in the order their commands were sent.
        pending: VecDeque<Replies>,
        buf: BytesMut,
    },
    Own {
        pool: &'a Pool,
        lease: Lease,
    },
}

impl Link<'_> {
    pub(super) fn is_shared(&self) -> bool {
        matches!(self, Self::Shared { .. })
    }

    pub(super) fn is_none(&self) -> bool {
        matches!(self, Self::None)
    }

    /// What has been read from Redis and not yet given back.
    pub(super) fn buf(&mut self) -> Option<&mut BytesMut> {
        match self {
            Self::None => None,
            Self::Shared { buf, .. } => Some(buf),
            Self::Own { lease, .. } => Some(&mut lease.conn.buf),
        }
    }

    /// Whether replies are still on their way on the shared connections.
    pub(super) fn awaiting(&self) -> bool {
        matches!(self, Self::Shared { pending, .. } if !pending.is_empty())
    }

    /// Sends what `bytes` holds, `commands` commands, and leaves it empty. To the shared
    /// connections the bytes go as they are (split off, not copied).
    pub(super) async fn send(&mut self, bytes: &mut BytesMut, commands: usize) -> io::Result<()> {
        match self {
            Self::None => {
                bytes.clear();
                Err(io::Error::other("not signed in"))
            }
            Self::Shared { pipelines, lane, pending, .. } => {
                pending.push_back(pipelines.send(bytes.split(), commands, *lane).await?);
                Ok(())
            }
            Self::Own { lease, .. } => {
                let sent = lease.conn.stream.write_all(bytes).await;
                bytes.clear();
                sent
            }
        }
    }

    /// Reads more from Redis into [`Self::buf`]; never completes when nothing can come.
    pub(super) async fn read(&mut self) -> io::Result<()> {
        match self {
            Self::None => std::future::pending().await,
            Self::Shared { pending, buf, .. } => {
                let Some(next) = pending.front_mut() else { return std::future::pending().await };
                // Awaited by reference, so a read given up by `select!` loses nothing.
                let replies = next.await;
                pending.pop_front();
                buf.extend_from_slice(&replies.map_err(|_| io::Error::other("the shared connection closed"))??);
                Ok(())
            }
            Self::Own { lease, .. } => match lease.conn.stream.read_buf(&mut lease.conn.buf).await? {
                0 => Err(io::ErrorKind::UnexpectedEof.into()),
                _ => Ok(()),
            },
        }
    }
}

/// Whether a command needs a connection of the session's own: it leaves state on the
/// connection (a transaction, a watch, a subscription) or holds it while it waits.
pub(super) fn needs_own_connection(spec: &Spec, shape: ReplyShape) -> bool {
    matches!(spec.name, "MULTI" | "WATCH") || shape == ReplyShape::PubSub || spec.blocking
}
