//! Replies that carry keys, given back as the client knows them: the prefix taken off every
//! key, channel and pattern, and anything outside the namespace never shown. Every other
//! byte of a reply is copied as it came.

use bytes::BytesMut;

use crate::dispatch::ReplyShape;
use crate::namespace::Namespace;
use crate::protocol::frame::{line_end, parse_int};
use crate::protocol::{Limits, RespError, encode, frame_len};

/// Writes `reply` (one whole value) to `out` as the client must see it.
pub fn give_back(shape: ReplyShape, reply: &[u8], ns: &Namespace, out: &mut BytesMut) -> Result<(), RespError> {
    if matches!(reply.first(), Some(b'-' | b'!')) {
        // Errors carry no keys of ours.
        out.extend_from_slice(reply);
        return Ok(());
    }
    match shape {
        ReplyShape::AsIs => {
            out.extend_from_slice(reply);
            Ok(())
        }
        ReplyShape::KeyArray => strip_key_array(reply, ns, out),
        ReplyShape::Scan => strip_scan_reply(reply, ns, out),
        ReplyShape::KeyFirst => strip_key_first(reply, ns, out),
        ReplyShape::Streams => strip_streams(reply, ns, out),
        ReplyShape::PubSub => strip_pubsub(reply, ns, out),
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
    encode::header(out, reply[0], keys.len());
    for key in keys {
        encode::bulk(out, key);
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
    encode::bulk(out, cursor);
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

/// `[key, …]` (BLPOP, LMPOP, BZPOPMIN, …), or a null: the key stripped, the rest as it came.
fn strip_key_first(reply: &[u8], ns: &Namespace, out: &mut BytesMut) -> Result<(), RespError> {
    if is_null(reply) {
        out.extend_from_slice(reply);
        return Ok(());
    }
    let (count, at) = aggregate_header(reply, 0)?;
    let Some(count) = count.filter(|c| *c > 0) else {
        out.extend_from_slice(reply);
        return Ok(());
    };
    let (key, rest) = bulk_at(reply, at)?;
    let key = key.and_then(|k| ns.strip(k)).ok_or(RespError::Malformed("a key outside the namespace"))?;
    encode::header(out, reply[0], count);
    encode::bulk(out, key);
    out.extend_from_slice(&reply[rest..]);
    Ok(())
}

/// XREAD's reply: per stream its key and entries, as an array of pairs (RESP2) or a map
/// (RESP3); or a null when nothing arrived.
fn strip_streams(reply: &[u8], ns: &Namespace, out: &mut BytesMut) -> Result<(), RespError> {
    if is_null(reply) {
        out.extend_from_slice(reply);
        return Ok(());
    }
    let map = reply.first() == Some(&b'%');
    let (count, mut at) = if map { map_header(reply)? } else { aggregate_header(reply, 0)? };
    let Some(count) = count else {
        out.extend_from_slice(reply);
        return Ok(());
    };
    encode::header(out, reply[0], count);
    for _ in 0..count {
        if !map {
            let (pair, next) = aggregate_header(reply, at)?;
            if pair != Some(2) {
                return Err(RespError::Malformed("a stream is its key and its entries"));
            }
            out.extend_from_slice(b"*2\r\n");
            at = next;
        }
        let (key, next) = bulk_at(reply, at)?;
        let key = key.and_then(|k| ns.strip(k)).ok_or(RespError::Malformed("a key outside the namespace"))?;
        encode::bulk(out, key);
        let entries = value_len(&reply[next..])?;
        out.extend_from_slice(&reply[next..next + entries]);
        at = next + entries;
    }
    Ok(())
}

/// A pub/sub confirmation or message (an array, or a RESP3 push): the channel or pattern it
/// names stripped; anything else as it came.
fn strip_pubsub(reply: &[u8], ns: &Namespace, out: &mut BytesMut) -> Result<(), RespError> {
    if !matches!(reply.first(), Some(b'*' | b'>')) {
        out.extend_from_slice(reply);
        return Ok(());
    }
    let (count, at) = aggregate_header(reply, 0)?;
    let Some(count) = count.filter(|c| *c >= 2) else {
        out.extend_from_slice(reply);
        return Ok(());
    };
    let (kind, mut at) = bulk_at(reply, at)?;
    let kind = kind.unwrap_or_default().to_ascii_lowercase();
    // Which elements after the kind name channels (c) or patterns (p).
    let named: &[u8] = match kind.as_slice() {
        b"subscribe" | b"unsubscribe" | b"ssubscribe" | b"sunsubscribe" | b"message" | b"smessage" => b"c",
        b"psubscribe" | b"punsubscribe" => b"p",
        b"pmessage" => b"pc",
        _ => b"",
    };
    encode::header(out, reply[0], count);
    encode::bulk(out, &kind);
    for &what in named {
        let (name, next) = bulk_at(reply, at)?;
        match name {
            // Unsubscribing from nothing names no channel.
            None => out.extend_from_slice(&reply[at..next]),
            Some(name) => {
                let stripped = if what == b'p' { ns.strip_pattern(name) } else { ns.strip(name) };
                encode::bulk(out, stripped.ok_or(RespError::Malformed("a channel outside the namespace"))?);
            }
        }
        at = next;
    }
    out.extend_from_slice(&reply[at..]);
    Ok(())
}

/// EXEC's reply: an array of the queued commands' replies, each given back by its command's
/// shape (a null or an error as it came).
pub fn give_back_exec(
    reply: &[u8],
    shapes: &[ReplyShape],
    ns: &Namespace,
    out: &mut BytesMut,
) -> Result<(), RespError> {
    let Ok((Some(count), mut at)) = aggregate_header(reply, 0) else {
        out.extend_from_slice(reply);
        return Ok(());
    };
    out.extend_from_slice(&reply[..at]);
    for i in 0..count {
        let len = value_len(&reply[at..])?;
        give_back(shapes.get(i).copied().unwrap_or(ReplyShape::AsIs), &reply[at..at + len], ns, out)?;
        at += len;
    }
    Ok(())
}

/// The first element of an array or push, if it is a bulk string.
pub fn first_bulk(reply: &[u8]) -> Option<&[u8]> {
    let (count, at) = aggregate_header(reply, 0).ok()?;
    count.filter(|c| *c > 0)?;
    bulk_at(reply, at).ok()?.0
}

fn is_null(reply: &[u8]) -> bool {
    reply == b"*-1\r\n" || reply == b"_\r\n" || reply == b"$-1\r\n"
}

fn value_len(bytes: &[u8]) -> Result<usize, RespError> {
    frame_len(bytes, &Limits::SERVER)?.ok_or(RespError::Malformed("incomplete reply"))
}

fn map_header(reply: &[u8]) -> Result<(Option<usize>, usize), RespError> {
    let end = line_end(reply, 1, 32)?.ok_or(RespError::Malformed("incomplete reply"))?;
    let count = usize::try_from(parse_int(&reply[1..end])?).map_err(|_| RespError::TooManyElements)?;
    Ok((Some(count), end + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Namespace {
        Namespace::new(&b"u:alice:"[..])
    }

    fn back(shape: ReplyShape, reply: &[u8]) -> Result<Vec<u8>, RespError> {
        let mut out = BytesMut::new();
        give_back(shape, reply, &alice(), &mut out)?;
        assert_eq!(frame_len(&out, &Limits::SERVER), Ok(Some(out.len())), "one well-formed reply");
        Ok(out.to_vec())
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

    #[test]
    fn popped_keys_lose_the_prefix() {
        let blpop = b"*2\r\n$9\r\nu:alice:q\r\n$3\r\njob\r\n";
        assert_eq!(back(ReplyShape::KeyFirst, blpop), Ok(b"*2\r\n$1\r\nq\r\n$3\r\njob\r\n".to_vec()));
        let lmpop = b"*2\r\n$9\r\nu:alice:q\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n";
        assert_eq!(back(ReplyShape::KeyFirst, lmpop), Ok(b"*2\r\n$1\r\nq\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n".to_vec()));
        assert_eq!(back(ReplyShape::KeyFirst, b"*-1\r\n"), Ok(b"*-1\r\n".to_vec()), "a timeout");
        assert_eq!(back(ReplyShape::KeyFirst, b"_\r\n"), Ok(b"_\r\n".to_vec()));
        assert!(back(ReplyShape::KeyFirst, b"*2\r\n$7\r\nu:bob:q\r\n$1\r\nx\r\n").is_err(), "never shown");
        assert_eq!(back(ReplyShape::KeyFirst, b"-ERR nope\r\n"), Ok(b"-ERR nope\r\n".to_vec()));
    }

    #[test]
    fn streams_lose_the_prefix_in_both_protocols() {
        let entries = b"*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n";
        let mut resp2 = b"*1\r\n*2\r\n$9\r\nu:alice:s\r\n".to_vec();
        resp2.extend_from_slice(entries);
        let mut want = b"*1\r\n*2\r\n$1\r\ns\r\n".to_vec();
        want.extend_from_slice(entries);
        assert_eq!(back(ReplyShape::Streams, &resp2), Ok(want));
        let mut resp3 = b"%1\r\n$9\r\nu:alice:s\r\n".to_vec();
        resp3.extend_from_slice(entries);
        let mut want = b"%1\r\n$1\r\ns\r\n".to_vec();
        want.extend_from_slice(entries);
        assert_eq!(back(ReplyShape::Streams, &resp3), Ok(want));
        assert_eq!(back(ReplyShape::Streams, b"*-1\r\n"), Ok(b"*-1\r\n".to_vec()));
    }

    #[test]
    fn channels_and_patterns_lose_the_prefix() {
        let ns = alice();
        let sub = b"*3\r\n$9\r\nsubscribe\r\n$10\r\nu:alice:ch\r\n:1\r\n";
        assert_eq!(back(ReplyShape::PubSub, sub), Ok(b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".to_vec()));
        let message = b">3\r\n$7\r\nmessage\r\n$10\r\nu:alice:ch\r\n$2\r\nhi\r\n";
        assert_eq!(back(ReplyShape::PubSub, message), Ok(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n".to_vec()));
        let mut pattern = BytesMut::new();
        ns.pattern(b"c*", &mut pattern);
        let mut pmessage = b"*4\r\n$8\r\npmessage\r\n".to_vec();
        pmessage.extend_from_slice(format!("${}\r\n", pattern.len()).as_bytes());
        pmessage.extend_from_slice(&pattern);
        pmessage.extend_from_slice(b"\r\n$10\r\nu:alice:ch\r\n$2\r\nhi\r\n");
        assert_eq!(
            back(ReplyShape::PubSub, &pmessage),
            Ok(b"*4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\nhi\r\n".to_vec())
        );
        let none = b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n";
        assert_eq!(back(ReplyShape::PubSub, none), Ok(none.to_vec()));
        let foreign = b"*3\r\n$7\r\nmessage\r\n$8\r\nu:bob:ch\r\n$2\r\nhi\r\n";
        assert!(back(ReplyShape::PubSub, foreign).is_err());
    }
}
