//! Bounded JSON fetches for discovery documents and JWK sets: a time limit, no redirects,
//! and a cap on the body so a hostile or broken endpoint cannot exhaust memory.

use std::time::Duration;

use serde::de::DeserializeOwned;

/// Largest discovery document or JWK set read.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// Why a document could not be had. One line each, never with the URL's query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Request(String),
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("response larger than 256 KiB")]
    TooLarge,
    #[error("not the JSON expected: {0}")]
    NotJson(String),
}

impl From<reqwest::Error> for FetchError {
    fn from(e: reqwest::Error) -> Self {
        Self::Request(e.without_url().to_string())
    }
}

/// GETs `url` and decodes its JSON body.
pub async fn get_json<T: DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, FetchError> {
    let mut response = http.get(url).send().await?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| FetchError::NotJson(e.to_string()))
}
