//! Named prepared statements under transaction pooling. A client's statement may be needed
//! on any backend, and two clients may use the same name for different SQL, so the gate
//! names statements on the server by their content (`ward_<hash of query and types>`),
//! remembers each client's names, and prepares a statement again on a backend that lacks it.

use std::collections::HashMap;

use aws_lc_rs::digest;
use bytes::BytesMut;

/// What a client prepared: the server-side name and the Parse body that creates it.
#[derive(Clone)]
pub struct Prepared {
    pub server_name: String,
    /// The Parse message body after the name: query text and parameter types.
    pub definition: BytesMut,
}

/// One client's statements by the names it chose.
#[derive(Default)]
pub struct ClientStatements {
    by_name: HashMap<String, Prepared>,
}

pub fn server_name(definition: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, definition);
    format!("ward_{}", ward_core::hex::encode(&d.as_ref()[..16]))
}

impl ClientStatements {
    pub fn insert(&mut self, name: &str, definition: &[u8]) -> &Prepared {
        let prepared = Prepared { server_name: server_name(definition), definition: BytesMut::from(definition) };
        match self.by_name.entry(name.to_owned()) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                e.insert(prepared);
                e.into_mut()
            }
            std::collections::hash_map::Entry::Vacant(e) => e.insert(prepared),
        }
    }

    /// A statement the client named (the unnamed one is never renamed).
    pub fn named(&self, name: &str) -> Option<&Prepared> {
        if name.is_empty() { None } else { self.by_name.get(name) }
    }

    pub fn remove(&mut self, name: &str) {
        self.by_name.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frontend::query_text;

    #[test]
    fn names_follow_content() {
        let a = server_name(b"select 1\0\0\0");
        assert_eq!(a, server_name(b"select 1\0\0\0"));
        assert_ne!(a, server_name(b"select 2\0\0\0"));
        assert!(a.len() < 63, "fits NAMEDATALEN");
        let mut clients = ClientStatements::default();
        let p = clients.insert("s1", b"select 1\0\0\0");
        assert_eq!(p.server_name, a);
        assert_eq!(query_text(&p.definition), b"select 1");
        assert!(clients.named("").is_none(), "the unnamed statement is never renamed");
        assert!(clients.named("s1").is_some());
    }
}
