//! A raw protocol client for attack tests: exact message sequences, pipelines without Sync,
//! FunctionCall, abrupt disconnects — what no driver sends on purpose.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use ward_pg::protocol::backend::parse_error;
use ward_pg::protocol::codec::{put_cstr, put_frame, take_frame};
use ward_pg::protocol::frontend::{encode_password, encode_startup};

/// One answer from the server, as far as tests care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// A DataRow's columns as text (`None` for NULL).
    Row(Vec<Option<String>>),
    /// ErrorResponse: SQLSTATE and message.
    Error(String, String),
    /// CommandComplete's tag.
    Complete(String),
    /// ReadyForQuery's status.
    Ready(u8),
    /// Anything else, by tag.
    Other(u8),
}

pub struct Wire {
    stream: TcpStream,
    buf: BytesMut,
    out: BytesMut,
}

impl Wire {
    /// Logs in through the gate as `user` with `token` as the password.
    pub async fn login(addr: std::net::SocketAddr, user: &str, token: &str) -> Self {
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut wire = Self { stream, buf: BytesMut::new(), out: BytesMut::new() };
        encode_startup(&mut wire.out, &[("user", user), ("database", ward_testkit::gate::DATABASE)]);
        wire.flush().await;
        let (tag, _) = wire.frame().await.expect("an authentication request");
        assert_eq!(tag, b'R');
        encode_password(&mut wire.out, token);
        wire.flush().await;
        let replies = wire.until_ready().await;
        assert!(matches!(replies.last(), Some(Reply::Ready(b'I'))), "login: {replies:?}");
        wire
    }

    pub async fn flush(&mut self) -> &mut Self {
        self.stream.write_all(&self.out).await.unwrap();
        self.out.clear();
        self
    }

    /// Queues a simple Query.
    pub fn query(&mut self, sql: &str) -> &mut Self {
        put_frame(&mut self.out, b'Q', |b| put_cstr(b, sql));
        self
    }

    /// Queues Parse of `sql` as statement `name`.
    pub fn parse(&mut self, name: &str, sql: &str) -> &mut Self {
        put_frame(&mut self.out, b'P', |b| {
            put_cstr(b, name);
            put_cstr(b, sql);
            b.put_i16(0);
        });
        self
    }

    /// Queues Bind of statement `name` (text parameters) to the unnamed portal, and Execute.
    pub fn bind_execute(&mut self, name: &str, params: &[&str]) -> &mut Self {
        put_frame(&mut self.out, b'B', |b| {
            put_cstr(b, "");
            put_cstr(b, name);
            b.put_i16(0);
            b.put_i16(params.len() as i16);
            for p in params {
                b.put_i32(p.len() as i32);
                b.extend_from_slice(p.as_bytes());
            }
            b.put_i16(0);
        });
        put_frame(&mut self.out, b'E', |b| {
            put_cstr(b, "");
            b.put_i32(0);
        });
        self
    }

    pub fn sync(&mut self) -> &mut Self {
        put_frame(&mut self.out, b'S', |_| {});
        self
    }

    /// Queues a FunctionCall of the function with `oid`, text arguments, text result.
    pub fn function_call(&mut self, oid: u32, args: &[&str]) -> &mut Self {
        put_frame(&mut self.out, b'F', |b| {
            b.put_u32(oid);
            b.put_i16(0);
            b.put_i16(args.len() as i16);
            for a in args {
                b.put_i32(a.len() as i32);
                b.extend_from_slice(a.as_bytes());
            }
            b.put_i16(0);
        });
        self
    }

    async fn frame(&mut self) -> Option<(u8, BytesMut)> {
        loop {
            if let Ok(Some(frame)) = take_frame(&mut self.buf, 1 << 26) {
                return Some((frame.tag, frame.body));
            }
            let read = tokio::time::timeout(Duration::from_secs(15), self.stream.read_buf(&mut self.buf)).await;
            match read {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    /// The next reply, or `None` when the connection closed.
    pub async fn next(&mut self) -> Option<Reply> {
        let (tag, mut body) = self.frame().await?;
        Some(match tag {
            b'D' => {
                let mut cols = Vec::new();
                let n = u16::from_be_bytes([body[0], body[1]]);
                let _ = body.split_to(2);
                for _ in 0..n {
                    let len = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let _ = body.split_to(4);
                    if len < 0 {
                        cols.push(None);
                    } else {
                        cols.push(Some(String::from_utf8_lossy(&body.split_to(len as usize)).into_owned()));
                    }
                }
                Reply::Row(cols)
            }
            b'E' => {
                let (code, message) = parse_error(body);
                Reply::Error(code, message)
            }
            b'C' => Reply::Complete(String::from_utf8_lossy(&body[..body.len().saturating_sub(1)]).into_owned()),
            b'Z' => Reply::Ready(body[0]),
            other => Reply::Other(other),
        })
    }

    /// ReadyForQuery answers that the queued messages will bring (Query, FunctionCall, Sync).
    pub fn pending_readies(&self) -> usize {
        let (mut count, mut at) = (0, 0);
        while at + 5 <= self.out.len() {
            let o = &self.out;
            count += usize::from(matches!(o[at], b'Q' | b'F' | b'S'));
            at += 1 + i32::from_be_bytes([o[at + 1], o[at + 2], o[at + 3], o[at + 4]]) as usize;
        }
        count
    }

    /// Sends what is queued and reads the answers up to the `readies`-th ReadyForQuery.
    pub async fn replies(&mut self, readies: usize) -> Vec<Reply> {
        let mut all = Vec::new();
        for _ in 0..readies {
            all.extend(self.until_ready().await);
        }
        all
    }

    /// Sends what is queued and reads up to and including the next ReadyForQuery.
    pub async fn until_ready(&mut self) -> Vec<Reply> {
        if !self.out.is_empty() {
            self.flush().await;
        }
        let mut replies = Vec::new();
        while let Some(reply) = self.next().await {
            let ready = matches!(reply, Reply::Ready(_));
            replies.push(reply);
            if ready {
                return replies;
            }
        }
        replies.push(Reply::Other(0));
        replies
    }

    /// Runs one simple query and returns its rows; panics on an error.
    pub async fn rows(&mut self, sql: &str) -> Vec<Vec<Option<String>>> {
        let replies = self.query(sql).until_ready().await;
        replies
            .into_iter()
            .filter_map(|r| match r {
                Reply::Row(cols) => Some(cols),
                Reply::Error(code, message) => panic!("{sql}: {code} {message}"),
                _ => None,
            })
            .collect()
    }

    /// Closes the socket without Terminate, as a crashed client would.
    pub async fn vanish(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Sends Terminate and closes.
    pub async fn terminate(mut self) {
        put_frame(&mut self.out, b'X', |_| {});
        let _ = self.stream.write_all(&self.out).await;
    }
}
