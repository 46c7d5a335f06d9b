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

/// GETs `url` and decodes its JSON body. Errors are one line, without the URL's query.
pub async fn get_json<T: DeserializeOwned>(http: &reqwest::Client, url: &str) -> Result<T, String> {
    let mut response = http.get(url).send().await.map_err(|e| e.without_url().to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.without_url().to_string())? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err("response larger than 256 KiB".into());
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| format!("not the JSON expected: {e}"))
}
