//! The Redis gate: clients authenticate with an access token (`AUTH <token>`), and every key
//! they name lives under their identity's prefix.
//!
//! - [`protocol`] — RESP2 and RESP3, sans IO, with limits: client commands (multibulk and
//!   inline) borrowed in place, any server reply framed, replies and errors encoded.
//! - [`commands`] — the command table: access class and key positions, an allow-list.
//! - [`namespace`] — an identity's key prefix: keys prefixed, patterns confined, replies
//!   stripped.
//! - [`replies`] — replies that carry keys, channels or patterns, given back without the
//!   prefix.
//! - [`scripts`] — EVAL scripts served only when every key they call comes from `KEYS[…]`.
//! - [`gate`] — the listener, sessions and upstream pools: `start(…)`.
//! - [`dispatch`] — one command's fate, sans IO: refused (`-NOAUTH`, `-NOPERM`), answered by
//!   the gate, or sent on with its keys located and its reply's shape known.

pub mod commands;
pub mod dispatch;
pub mod gate;
pub mod namespace;
pub mod protocol;
pub mod replies;
pub mod scripts;
