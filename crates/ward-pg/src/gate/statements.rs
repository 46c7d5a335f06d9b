//! Named prepared statements under transaction pooling. A client's statement may be needed
//! on any backend, and two clients may use the same name for different SQL, so the gate
//! names statements on the server by their content (`ward_<hash of query and types>`),
//! remembers each client's names, and prepares a statement again on a backend that lacks it.

use std::collections::HashMap;

use aws_lc_rs::digest;
use bytes::{BufMut, BytesMut};

use crate::protocol::codec::{put_cstr, put_frame};

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

/// A NUL-terminated name at the start of `bytes`, and what follows it. Borrowed: splitting
/// the messages of every transaction costs no allocation.
pub fn split_cstr(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    Some((std::str::from_utf8(&bytes[..end]).ok()?, &bytes[end + 1..]))
}

/// A Parse message body split into the statement name and its definition.
pub fn split_parse(body: &[u8]) -> Option<(&str, &[u8])> {
    split_cstr(body)
}

/// The query text of a Parse message's definition.
pub fn query_text(definition: &[u8]) -> &[u8] {
    let end = definition.iter().position(|b| *b == 0).unwrap_or(definition.len());
    &definition[..end]
}

pub fn server_name(definition: &[u8]) -> String {
    let d = digest::digest(&digest::SHA256, definition);
    let hex: String = d.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("ward_{hex}")
}

pub fn encode_parse(out: &mut BytesMut, name: &str, definition: &[u8]) {
    put_frame(out, b'P', |b| {
        put_cstr(b, name);
        b.extend_from_slice(definition);
    });
}

/// Bind: portal, statement, then the rest (formats, parameters, result formats).
pub fn split_bind(body: &[u8]) -> Option<(&str, &str, &[u8])> {
    let (portal, rest) = split_cstr(body)?;
    let (statement, rest) = split_cstr(rest)?;
    Some((portal, statement, rest))
}

pub fn encode_bind(out: &mut BytesMut, portal: &str, statement: &str, rest: &[u8]) {
    put_frame(out, b'B', |b| {
        put_cstr(b, portal);
        put_cstr(b, statement);
        b.extend_from_slice(rest);
    });
}

/// Describe and Close: `S` or `P`, and a name.
pub fn split_target(body: &[u8]) -> Option<(u8, &str)> {
    let (&kind, rest) = body.split_first()?;
    Some((kind, split_cstr(rest)?.0))
}

pub fn encode_target(out: &mut BytesMut, tag: u8, kind: u8, name: &str) {
    put_frame(out, tag, |b| {
        b.put_u8(kind);
        put_cstr(b, name);
    });
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

    pub fn get(&self, name: &str) -> Option<&Prepared> {
        self.by_name.get(name)
    }

    pub fn remove(&mut self, name: &str) {
        self.by_name.remove(name);
    }
}

/// Whether SQL text may change session state that must not reach the next client. Errs on
/// the side of yes: a false alarm only costs a reset.
pub fn may_change_session(sql: &[u8]) -> bool {
    // One pass, dispatching on the first letter: this runs on every query in transaction
    // pooling, so it must cost little for the common statement that matches nothing.
    (0..sql.len()).any(|i| {
        let rest = &sql[i..];
        let markers: &[&[u8]] = match sql[i] | 0x20 {
            b's' => &[b"set ", b"set\t", b"set\n", b"set_config"],
            b'r' => &[b"reset"],
            b'l' => &[b"listen", b"load"],
            b'a' => &[b"advisory"],
            b't' => &[b"temp"],
            b'd' => &[b"declare", b"discard", b"deallocate"],
            b'p' => &[b"prepare"],
            _ => return false,
        };
        markers.iter().any(|m| rest.len() >= m.len() && rest[..m.len()].eq_ignore_ascii_case(m))
    })
}

/// ASCII case-insensitive substring search, without allocating.
pub fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn session_state_heuristic() {
        assert!(may_change_session(b"SET search_path TO x"));
        assert!(may_change_session(b"select set_config('a.b', 'c', false)"));
        assert!(may_change_session(b"CREATE TEMP TABLE t (i int)"));
        assert!(!may_change_session(b"SELECT abalance FROM pgbench_accounts WHERE aid = $1"));
    }

    #[test]
    fn messages_split_and_rebuild() {
        let mut body = BytesMut::new();
        put_cstr(&mut body, "portal");
        put_cstr(&mut body, "s1");
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let (portal, statement, rest) = split_bind(&body).unwrap();
        assert_eq!((portal, statement, rest.len()), ("portal", "s1", 6));
        let mut out = BytesMut::new();
        encode_target(&mut out, b'D', b'S', "x");
        let frame = crate::protocol::codec::take_frame(&mut out, 100).unwrap().unwrap();
        assert_eq!(split_target(&frame.body), Some((b'S', "x")));
        assert_eq!(split_target(b""), None);
        assert_eq!(split_cstr(b"\xff\0"), None, "names are UTF-8");
    }
}
