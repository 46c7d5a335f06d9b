//! One module per endpoint family.

pub mod account;
pub mod authorize;
pub mod device;
pub mod discovery;
pub mod health;
pub mod oauth;
pub mod oidc;
pub mod pages;
