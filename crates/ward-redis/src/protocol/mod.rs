//! RESP, sans IO: bytes in, borrowed views out, and back. Nothing here reads a socket, so every
//! malformed or hostile input is a unit test in raw bytes.
//!
//! - [`limits`] — how large a bulk string, how deep an aggregate, how long an inline command.
//! - [`frame`] — the length of one complete value of any RESP2/RESP3 type (what servers send),
//!   without building it.
//! - [`command`] — what clients send: multibulk arrays of bulk strings, or inline commands,
//!   parsed into argument ranges reused from one command to the next.
//! - [`encode`] — replies and errors, as the gate writes them.

pub mod command;
pub mod encode;
pub mod frame;
pub mod limits;

pub use command::{Args, parse_command};
pub use frame::frame_len;
pub use limits::Limits;

/// Input that is not RESP, or is larger or deeper than the limits allow. The text is what a
/// client is told after `-ERR Protocol error: ` (Redis's own wording where it has one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RespError {
    #[error("{0}")]
    Malformed(&'static str),
    #[error("invalid bulk length")]
    BulkTooLarge,
    #[error("invalid multibulk length")]
    TooManyElements,
    #[error("too big inline request")]
    InlineTooLarge,
    #[error("too many nested aggregates")]
    TooDeep,
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    #[error("expected '$', got '{0}'")]
    ExpectedBulk(char),
}
