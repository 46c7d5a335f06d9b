//! One module per endpoint family.

pub mod authorize;
pub mod discovery;
pub mod health;
pub mod oauth;
pub mod oidc;
pub mod pages;
