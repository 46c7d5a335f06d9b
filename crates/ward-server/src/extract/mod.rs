//! Request extractors.

pub mod browser;
pub mod form;

pub use browser::{Browser, CookiePolicy};
pub use form::OAuthForm;
