//! The commands the gate serves: what each may do, and where its keys are.
//!
//! - [`table`] — every command the gate knows (an allow-list), with its access class and key
//!   positions.
//! - [`keys`] — the positions of a parsed command's keys, or why they cannot be confined.

pub mod keys;
pub mod table;

pub use keys::{KeyError, locate};
pub use table::{Access, Keys, Spec, commands_with_keys, lookup};
