//! Client registrations cached for a few seconds: the token endpoint reads a client on every
//! request, and registrations change rarely. The TTL bounds how long a deleted client or a
//! rotated secret keeps working on a node that did not make the change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use ward_core::sync::lock;

use ward_core::UnixTime;
use ward_store::{ClientRecord, ClientStore, StoreError};

/// Bound on cached entries, negative ones included, so random client ids cannot grow memory.
const MAX_ENTRIES: usize = 10_000;
/// Longest client id looked up; longer ones are unknown without asking the database.
pub const MAX_CLIENT_ID_LEN: usize = 128;

type Entry = (UnixTime, Option<Arc<ClientRecord>>);

pub struct ClientCache {
    ttl: i64,
    entries: Mutex<HashMap<String, Entry>>,
}

impl ClientCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX), entries: Mutex::new(HashMap::new()) }
    }

    pub async fn get(
        &self,
        store: &impl ClientStore,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<Arc<ClientRecord>>, StoreError> {
        if client_id.len() > MAX_CLIENT_ID_LEN {
            return Ok(None);
        }
        if self.ttl > 0
            && let Some((at, record)) = lock(&self.entries).get(client_id)
            && now - at < self.ttl
        {
            return Ok(record.clone());
        }
        let record = store.get_client(client_id).await?.map(Arc::new);
        if self.ttl > 0 {
            let mut entries = lock(&self.entries);
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, (at, _)| now - *at < self.ttl);
                if entries.len() >= MAX_ENTRIES {
                    entries.clear();
                }
            }
            entries.insert(client_id.to_owned(), (now, record.clone()));
        }
        Ok(record)
    }

    pub fn invalidate(&self, client_id: &str) {
        lock(&self.entries).remove(client_id);
    }
}
