//! The PostgreSQL wire protocol (v3), sans IO: frames in, typed messages out, and back.
//! Both directions, because the gate is a server to clients and a client to PostgreSQL.
//!
//! - [`codec`] — framing with size limits: startup packets and tagged messages.
//! - [`frontend`] — what clients send: startup, SSL/GSS/cancel requests, passwords, SASL; the
//!   extended protocol's Parse/Bind/Describe/Close split and built without copies.
//! - [`backend`] — what servers send: authentication requests, errors, parameters, keys.
//! - [`rows`] — results (columns, rows, command tags, full errors), for the gate's own queries.
//! - [`tag`] — message type bytes by name.

pub mod backend;
pub mod codec;
pub mod frontend;
pub mod rows;
pub mod tag;

pub use codec::{Frame, FrameError, MAX_STARTUP_LEN};
