//! One identity's key namespace: every key it names is stored under its prefix, patterns it
//! gives (KEYS, SCAN MATCH, PSUBSCRIBE) match only inside it, and keys that come back in
//! replies lose the prefix again. The prefix comes from a template such as `u:{sub}:`
//! (`ward_gate::claims::ClaimTemplate`).
//!
//! In a Redis Cluster, only the part of a key inside its first `{…}` picks the slot: a prefix
//! with a hash tag (`{u:{sub}}:`) keeps one identity's keys in one slot (so multi-key commands
//! work), and a prefix without one leaves the client's own tags in charge.

use bytes::BytesMut;

use crate::protocol::{Args, RespError, frame::line_end, frame::parse_int};

/// Characters that mean something in a Redis glob pattern, escaped in the prefix so that a
/// prefix cannot widen a pattern.
const GLOB: &[u8] = b"*?[]\\";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: Vec<u8>,
    /// The prefix as a glob pattern matching only itself.
    escaped: Vec<u8>,
}

impl Namespace {
    pub fn new(prefix: impl Into<Vec<u8>>) -> Self {
        let prefix = prefix.into();
        let mut escaped = Vec::with_capacity(prefix.len() + 4);
        for &b in &prefix {
            if GLOB.contains(&b) {
                escaped.push(b'\\');
            }
            escaped.push(b);
        }
        Self { prefix, escaped }
    }

    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// A client's key as stored.
    pub fn key(&self, key: &[u8], out: &mut BytesMut) {
        out.extend_from_slice(&self.prefix);
        out.extend_from_slice(key);
    }

    /// A client's pattern, confined: it can match only keys under the prefix, whatever it says.
    pub fn pattern(&self, pattern: &[u8], out: &mut BytesMut) {
        out.extend_from_slice(&self.escaped);
        out.extend_from_slice(pattern);
    }

    /// A stored key as the client knows it; `None` for a key outside the namespace, which the
    /// client must not see.
    pub fn strip<'a>(&self, key: &'a [u8]) -> Option<&'a [u8]> {
        key.strip_prefix(self.prefix.as_slice())
    }
}

/// Writes the command in `args` as a multibulk array, with the arguments at `keys` prefixed
/// (or, with `patterns`, confined as patterns) and the others as they came.
pub fn rewrite(args: &Args, buf: &[u8], keys: &[usize], patterns: bool, ns: &Namespace, out: &mut BytesMut) {
    put_array_header(out, args.len());
    for (i, arg) in args.iter(buf).enumerate() {
        if keys.contains(&i) {
            put_len(out, b'$', arg.len() + if patterns { ns.escaped.len() } else { ns.prefix.len() });
            if patterns {
                ns.pattern(arg, out);
            } else {
                ns.key(arg, out);
            }
            out.extend_from_slice(b"\r\n");
        } else {
            put_bulk(out, arg);
        }
    }
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE t]: the MATCH pattern confined, or one added so
/// that only the namespace is scanned.
pub fn rewrite_scan(args: &Args, buf: &[u8], ns: &Namespace, out: &mut BytesMut) {
    let mut match_at = None;
    let mut i = 2;
    while i + 1 < args.len() {
        if args.get(buf, i).is_some_and(|a| a.eq_ignore_ascii_case(b"MATCH")) {
            match_at = Some(i + 1);
        }
        i += 2;
    }
    match match_at {
        Some(at) => rewrite(args, buf, &[at], true, ns, out),
        None => {
            put_array_header(out, args.len() + 2);
            for arg in args.iter(buf) {
                put_bulk(out, arg);
            }
            put_bulk(out, b"MATCH");
            let mut pattern = BytesMut::new();
            ns.pattern(b"*", &mut pattern);
            put_bulk(out, &pattern);
        }
    }
}

/// A reply that is an array of keys (KEYS), or a key or null (RANDOMKEY's shape), with the
/// prefix taken off every key; keys outside the namespace are left out.
pub fn strip_key_array(reply: &[u8], ns: &Namespace, out: &mut BytesMut) -> Result<(), RespError> {
    let (count, mut at) = aggregate_header(reply, 0)?;
    let Some(count) = count else {
        out.extend_from_slice(reply);
        return Ok(());
    };
    let mut keys = Vec::with_capacity(count);
    for _ in 0..count {
        let (key, next) = bulk_at(reply, at)?;
        at = next;
        if let Some(key) = key.and_then(|k| ns.strip(k)) {
            keys.push(key);
        }
    }
    put_len(out, reply[0], keys.len());
    for key in keys {
        put_bulk(out, key);
    }
    Ok(())
}

/// SCAN's reply, `[cursor, [key…]]`, with the keys stripped.
pub fn strip_scan_reply(reply: &[u8], ns: &Namespace, out: &mut BytesMut) -> Result<(), RespError> {
    let (count, at) = aggregate_header(reply, 0)?;
    if count != Some(2) {
        return Err(RespError::Malformed("a SCAN reply is a cursor and an array"));
    }
    let (cursor, at) = bulk_at(reply, at)?;
    let cursor = cursor.ok_or(RespError::Malformed("a SCAN reply has a cursor"))?;
    out.extend_from_slice(b"*2\r\n");
    put_bulk(out, cursor);
    strip_key_array(&reply[at..], ns, out)
}

/// An aggregate's element count (`None` for a null array) and where its first element begins.
fn aggregate_header(reply: &[u8], at: usize) -> Result<(Option<usize>, usize), RespError> {
    if !matches!(reply.get(at), Some(b'*' | b'~' | b'>')) {
        return Err(RespError::Malformed("expected an array"));
    }
    let end = line_end(reply, at + 1, 32)?.ok_or(RespError::Malformed("incomplete reply"))?;
    let count = parse_int(&reply[at + 1..end])?;
    let count = if count < 0 { None } else { Some(usize::try_from(count).map_err(|_| RespError::TooManyElements)?) };
    Ok((count, end + 2))
}

/// The bulk string at `at` (`None` for a null) and where the next value begins.
fn bulk_at(reply: &[u8], at: usize) -> Result<(Option<&[u8]>, usize), RespError> {
    if reply.get(at) != Some(&b'$') {
        return Err(RespError::ExpectedBulk(reply.get(at).map_or('?', |b| char::from(*b))));
    }
    let end = line_end(reply, at + 1, 32)?.ok_or(RespError::Malformed("incomplete reply"))?;
    let len = parse_int(&reply[at + 1..end])?;
    if len < 0 {
        return Ok((None, end + 2));
    }
    let start = end + 2;
    let len = usize::try_from(len).map_err(|_| RespError::BulkTooLarge)?;
    let value = reply.get(start..start + len).ok_or(RespError::Malformed("incomplete reply"))?;
    Ok((Some(value), start + len + 2))
}

fn put_len(out: &mut BytesMut, kind: u8, len: usize) {
    out.extend_from_slice(&[kind]);
    out.extend_from_slice(len.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn put_array_header(out: &mut BytesMut, len: usize) {
    put_len(out, b'*', len);
}

fn put_bulk(out: &mut BytesMut, value: &[u8]) {
    put_len(out, b'$', value.len());
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::{locate, lookup};
    use crate::protocol::{Limits, frame_len, parse_command};

    fn alice() -> Namespace {
        Namespace::new(&b"u:alice:"[..])
    }

    /// An inline command as the gate sends it on for `ns`.
    fn sent(line: &str, ns: &Namespace) -> Vec<String> {
        let input = format!("{line}\r\n");
        let mut args = Args::default();
        parse_command(input.as_bytes(), &Limits::CLIENT, &mut args).ok();
        let name = args.get(input.as_bytes(), 0).unwrap_or_default();
        let spec = lookup(name).expect("a known command");
        let mut out = BytesMut::new();
        if spec.name == "SCAN" {
            rewrite_scan(&args, input.as_bytes(), ns, &mut out);
        } else if spec.name == "KEYS" {
            rewrite(&args, input.as_bytes(), &[1], true, ns, &mut out);
        } else {
            let mut keys = Vec::new();
            locate(spec, &args, input.as_bytes(), &mut keys).expect("keys located");
            let patterns = matches!(spec.keys, crate::commands::Keys::Channels { patterns: true, .. });
            rewrite(&args, input.as_bytes(), &keys, patterns, ns, &mut out);
        }
        assert_eq!(frame_len(&out, &Limits::SERVER), Ok(Some(out.len())), "one well-formed command");
        let mut parsed = Args::default();
        parse_command(&out, &Limits::CLIENT, &mut parsed).ok();
        parsed.iter(&out).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
    }

    #[test]
    fn every_key_a_command_names_is_prefixed() {
        let ns = alice();
        assert_eq!(sent("GET k", &ns), ["GET", "u:alice:k"]);
        assert_eq!(sent("MSET a 1 b 2", &ns), ["MSET", "u:alice:a", "1", "u:alice:b", "2"]);
        assert_eq!(sent("RENAME a b", &ns), ["RENAME", "u:alice:a", "u:alice:b"]);
        assert_eq!(
            sent("EVAL \"return redis.call('GET', KEYS[1])\" 1 k arg", &ns),
            ["EVAL", "return redis.call('GET', KEYS[1])", "1", "u:alice:k", "arg"]
        );
        assert_eq!(sent("XREAD STREAMS s 0", &ns), ["XREAD", "STREAMS", "u:alice:s", "0"]);
        assert_eq!(sent("SUBSCRIBE news", &ns), ["SUBSCRIBE", "u:alice:news"]);
    }

    #[test]
    fn patterns_match_only_inside_the_namespace() {
        let ns = alice();
        assert_eq!(sent("KEYS *", &ns), ["KEYS", "u:alice:*"]);
        assert_eq!(sent("PSUBSCRIBE *", &ns), ["PSUBSCRIBE", "u:alice:*"]);
        assert_eq!(sent("SCAN 0", &ns), ["SCAN", "0", "MATCH", "u:alice:*"]);
        assert_eq!(sent("SCAN 0 MATCH a* COUNT 10", &ns), ["SCAN", "0", "MATCH", "u:alice:a*", "COUNT", "10"]);
        // Glob characters in a prefix match only themselves.
        let odd = Namespace::new(&b"u:[a-z]*?\\:"[..]);
        assert_eq!(sent("KEYS *", &odd), ["KEYS", "u:\\[a-z\\]\\*\\?\\\\:*"]);
        assert_eq!(sent("GET k", &odd), ["GET", "u:[a-z]*?\\:k"], "keys themselves are not patterns");
    }

    #[test]
    fn keys_in_replies_lose_the_prefix_and_foreign_ones_are_dropped() {
        let ns = alice();
        let reply = b"*3\r\n$9\r\nu:alice:a\r\n$7\r\nu:bob:b\r\n$10\r\nu:alice:bc\r\n";
        let mut out = BytesMut::new();
        strip_key_array(reply, &ns, &mut out).expect("a key array");
        assert_eq!(&out[..], b"*2\r\n$1\r\na\r\n$2\r\nbc\r\n");
        out.clear();
        let scan = b"*2\r\n$2\r\n17\r\n*1\r\n$9\r\nu:alice:a\r\n";
        strip_scan_reply(scan, &ns, &mut out).expect("a SCAN reply");
        assert_eq!(&out[..], b"*2\r\n$2\r\n17\r\n*1\r\n$1\r\na\r\n");
        out.clear();
        strip_key_array(b"*-1\r\n", &ns, &mut out).expect("a null array");
        assert_eq!(&out[..], b"*-1\r\n");
        assert!(strip_key_array(b"+OK\r\n", &ns, &mut out).is_err());
        assert!(strip_scan_reply(b"*1\r\n$1\r\n0\r\n", &ns, &mut out).is_err());
    }
}
