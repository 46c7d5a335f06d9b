//! A small cache of JWK sets fetched from `jwks_uri`s, with bounded responses and time.
//! An unknown `kid` may force one refetch, at most once per `min_refetch` per URI.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ward_core::sync::lock;

use jsonwebtoken::jwk::JwkSet;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksFetchError {
    #[error("could not fetch {uri}: {reason}")]
    Fetch { uri: String, reason: crate::fetch::FetchError },
}

struct Entry {
    set: Arc<JwkSet>,
    fetched: Instant,
}

pub struct JwksCache {
    http: reqwest::Client,
    ttl: Duration,
    min_refetch: Duration,
    entries: Mutex<HashMap<String, Entry>>,
}

impl JwksCache {
    pub fn new(ttl: Duration, min_refetch: Duration) -> Self {
        Self { http: crate::fetch::client(), ttl, min_refetch, entries: Mutex::new(HashMap::new()) }
    }

    /// The set at `uri`: cached while fresh; refetched when stale or when `refresh` asks
    /// and the last fetch is older than `min_refetch`. A failed refetch keeps the old set.
    pub async fn get(&self, uri: &str, refresh: bool) -> Result<Arc<JwkSet>, JwksFetchError> {
        let cached = self.cached(uri);
        if let Some((set, age)) = &cached {
            let fresh = *age < self.ttl;
            let may_refetch = *age >= self.min_refetch;
            if fresh && !(refresh && may_refetch) {
                return Ok(set.clone());
            }
        }
        match self.fetch(uri).await {
            Ok(set) => {
                let set = Arc::new(set);
                lock(&self.entries).insert(uri.to_owned(), Entry { set: set.clone(), fetched: Instant::now() });
                Ok(set)
            }
            Err(e) => match cached {
                Some((set, _)) => {
                    tracing::warn!(jwks_uri = uri, error = %e, "keeping last known JWKS");
                    Ok(set)
                }
                None => Err(e),
            },
        }
    }

    fn cached(&self, uri: &str) -> Option<(Arc<JwkSet>, Duration)> {
        lock(&self.entries).get(uri).map(|e| (e.set.clone(), e.fetched.elapsed()))
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, JwksFetchError> {
        crate::fetch::get_json(&self.http, uri)
            .await
            .map_err(|reason| JwksFetchError::Fetch { uri: uri.to_owned(), reason })
    }
}
