//! One module per endpoint family.

pub mod discovery;
pub mod health;
pub mod oauth;
