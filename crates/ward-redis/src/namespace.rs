//! One identity's key namespace: every key it names is stored under its prefix, patterns it
//! gives (KEYS, SCAN MATCH, PSUBSCRIBE) match only inside it, and keys that come back in
//! replies lose the prefix again. The prefix comes from a template such as `u:{sub}:`
//! (`ward_gate::claims::ClaimTemplate`).
//!
//! In a Redis Cluster, only the part of a key inside its first `{…}` picks the slot: a prefix
//! with a hash tag (`{u:{sub}}:`) keeps one identity's keys in one slot (so multi-key commands
//! work), and a prefix without one leaves the client's own tags in charge.

use bytes::BytesMut;

use crate::protocol::{Args, encode};

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

    /// The namespace of the caller with this verified token, from the prefix template. Claim
    /// values cannot spell the template's separators or a hash tag, nor a glob: those are
    /// escaped, so one identity's prefix can never be the start of another's.
    pub fn for_identity(template: &ward_gate::claims::ClaimTemplate, identity: &ward_token::remote::Identity) -> Self {
        const RESERVED: [char; 9] = [':', '{', '}', '*', '?', '[', ']', '\\', ' '];
        Self::new(template.render_escaped(identity, &RESERVED).into_bytes())
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

    /// A confined pattern as the client gave it.
    pub fn strip_pattern<'a>(&self, pattern: &'a [u8]) -> Option<&'a [u8]> {
        pattern.strip_prefix(self.escaped.as_slice())
    }
}

/// Writes the command in `args` as a multibulk array, with the arguments at `keys` prefixed
/// (or, with `patterns`, confined as patterns) and the others as they came.
pub fn rewrite(args: &Args, buf: &[u8], keys: &[usize], patterns: bool, ns: &Namespace, out: &mut BytesMut) {
    encode::array(out, args.len());
    for (i, arg) in args.iter(buf).enumerate() {
        if keys.contains(&i) {
            encode::header(out, b'$', arg.len() + if patterns { ns.escaped.len() } else { ns.prefix.len() });
            if patterns {
                ns.pattern(arg, out);
            } else {
                ns.key(arg, out);
            }
            out.extend_from_slice(b"\r\n");
        } else {
            encode::bulk(out, arg);
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
            encode::array(out, args.len() + 2);
            for arg in args.iter(buf) {
                encode::bulk(out, arg);
            }
            encode::bulk(out, b"MATCH");
            let mut pattern = BytesMut::new();
            ns.pattern(b"*", &mut pattern);
            encode::bulk(out, &pattern);
        }
    }
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
}
