//! Request extractors.

pub mod form;

pub use form::OAuthForm;
