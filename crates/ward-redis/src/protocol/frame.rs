//! The length of one complete RESP value, of any RESP2 or RESP3 type, found by walking its
//! headers: nothing is built, nothing is copied, and bulk payloads are stepped over by their
//! length. What the gate needs to keep server replies in order and whole.

use super::{Limits, RespError};

/// Aggregates nest no deeper than this, whatever the limits say.
const MAX_STACK: usize = 128;

/// `Ok(Some(n))`: the first `n` bytes of `buf` are one complete value. `Ok(None)`: more bytes
/// are needed. An error: not RESP, or over the limits (decided from headers alone, before
/// anything is buffered for the value).
pub fn frame_len(buf: &[u8], limits: &Limits) -> Result<Option<usize>, RespError> {
    let max_depth = limits.max_depth.min(MAX_STACK);
    // Elements still to read in each open aggregate, innermost last.
    let mut open = [0usize; MAX_STACK];
    let mut depth = 0;
    let mut at = 0;
    loop {
        let Some(&kind) = buf.get(at) else { return Ok(None) };
        let Some(end) = line_end(buf, at + 1, limits.max_inline)? else { return Ok(None) };
        let line = &buf[at + 1..end];
        at = end + 2;
        let children = match kind {
            b'+' | b'-' | b',' | b'#' | b'(' => 0,
            b':' => {
                parse_int(line)?;
                0
            }
            b'_' if line.is_empty() => 0,
            b'$' | b'!' | b'=' => {
                let len = parse_int(line)?;
                if len == -1 && kind == b'$' {
                    0 // RESP2's null bulk string
                } else {
                    let len = usize::try_from(len).map_err(|_| RespError::BulkTooLarge)?;
                    if len > limits.max_bulk {
                        return Err(RespError::BulkTooLarge);
                    }
                    if buf.len() < at + len + 2 {
                        return Ok(None);
                    }
                    if &buf[at + len..at + len + 2] != b"\r\n" {
                        return Err(RespError::Malformed("bulk string not followed by CRLF"));
                    }
                    at += len + 2;
                    0
                }
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let count = parse_int(line)?;
                if count == -1 && kind == b'*' {
                    0 // RESP2's null array
                } else {
                    let count = usize::try_from(count).map_err(|_| RespError::TooManyElements)?;
                    if count > limits.max_elements {
                        return Err(RespError::TooManyElements);
                    }
                    match kind {
                        // Maps count pairs; an attribute is a map, then the value it describes.
                        b'%' => count.checked_mul(2).ok_or(RespError::TooManyElements)?,
                        b'|' => {
                            count.checked_mul(2).and_then(|n| n.checked_add(1)).ok_or(RespError::TooManyElements)?
                        }
                        _ => count,
                    }
                }
            }
            _ => return Err(RespError::Malformed("unknown type byte")),
        };
        if children > 0 {
            if depth == max_depth {
                return Err(RespError::TooDeep);
            }
            open[depth] = children;
            depth += 1;
            continue;
        }
        // A value is complete: so is every aggregate it completes.
        loop {
            if depth == 0 {
                return Ok(Some(at));
            }
            open[depth - 1] -= 1;
            if open[depth - 1] > 0 {
                break;
            }
            depth -= 1;
        }
    }
}

/// Where the line that starts at `from` ends (the index of its `\r`). `Ok(None)` while no CRLF
/// has arrived within `max` bytes; an error past that, or for a bare `\r`.
pub(crate) fn line_end(buf: &[u8], from: usize, max: usize) -> Result<Option<usize>, RespError> {
    let window = &buf[from.min(buf.len())..];
    match window.iter().position(|b| *b == b'\r') {
        Some(cr) if cr > max => Err(RespError::InlineTooLarge),
        Some(cr) => match window.get(cr + 1) {
            Some(b'\n') => Ok(Some(from + cr)),
            Some(_) => Err(RespError::Malformed("CR not followed by LF")),
            None => Ok(None),
        },
        None if window.len() > max => Err(RespError::InlineTooLarge),
        None => Ok(None),
    }
}

/// A signed decimal integer, strictly: digits only, an optional leading `-`, no overflow.
pub(crate) fn parse_int(line: &[u8]) -> Result<i64, RespError> {
    let (negative, digits) = match line.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, line),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(RespError::Malformed("invalid integer"));
    }
    let mut value: i64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return Err(RespError::Malformed("invalid integer"));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(d - b'0')))
            .ok_or(RespError::Malformed("invalid integer"))?;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(bytes: &[u8]) -> Result<Option<usize>, RespError> {
        frame_len(bytes, &Limits::SERVER)
    }

    #[test]
    fn every_resp2_and_resp3_type_is_framed_whole() {
        for value in [
            &b"+OK\r\n"[..],
            b"-ERR wrong\r\n",
            b":-42\r\n",
            b"$5\r\nhello\r\n",
            b"$0\r\n\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n$3\r\nfoo\r\n:1\r\n",
            b"_\r\n",
            b",3.14\r\n",
            b"#t\r\n",
            b"(3492890328409238509324850943850943825024385\r\n",
            b"!21\r\nSYNTAX invalid syntax\r\n",
            b"=15\r\ntxt:Some string\r\n",
            b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            b"~2\r\n+a\r\n+b\r\n",
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            b"|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n",
            b"*2\r\n*2\r\n:1\r\n:2\r\n%1\r\n+k\r\n*0\r\n",
        ] {
            assert_eq!(len(value), Ok(Some(value.len())), "{}", String::from_utf8_lossy(value));
            // Every proper prefix asks for more; nothing is mistaken for complete.
            for cut in 0..value.len() {
                assert_eq!(len(&value[..cut]), Ok(None), "{:?}", String::from_utf8_lossy(&value[..cut]));
            }
        }
    }

    #[test]
    fn a_pipeline_is_framed_one_value_at_a_time() {
        let two = b"+OK\r\n$3\r\nbar\r\n";
        assert_eq!(len(two), Ok(Some(5)));
        assert_eq!(len(&two[5..]), Ok(Some(9)));
    }

    #[test]
    fn malformed_values_are_refused() {
        assert!(matches!(len(b"?what\r\n"), Err(RespError::Malformed(_))));
        assert!(matches!(len(b":12a\r\n"), Err(RespError::Malformed(_))));
        assert!(matches!(len(b":\r\n"), Err(RespError::Malformed(_))));
        assert!(matches!(len(b"$3\r\nfooXY"), Err(RespError::Malformed(_))));
        assert!(matches!(len(b"+OK\rX"), Err(RespError::Malformed(_))));
        assert!(matches!(len(b"$-2\r\n"), Err(RespError::BulkTooLarge)));
        assert!(matches!(len(b"!-1\r\n"), Err(RespError::BulkTooLarge)), "only $ has a null form");
        assert!(matches!(len(b"~-1\r\n"), Err(RespError::TooManyElements)), "only * has a null form");
        assert!(matches!(len(b"$99999999999999999999\r\n"), Err(RespError::Malformed(_))));
        assert!(matches!(len(b"_x\r\n"), Err(RespError::Malformed(_))));
    }

    #[test]
    fn limits_are_decided_from_headers_before_any_payload_arrives() {
        let small = Limits { max_bulk: 10, max_elements: 3, max_depth: 2, max_inline: 16 };
        assert_eq!(frame_len(b"$11\r\n", &small), Err(RespError::BulkTooLarge));
        assert_eq!(frame_len(b"$10\r\n", &small), Ok(None));
        assert_eq!(frame_len(b"*4\r\n", &small), Err(RespError::TooManyElements));
        assert_eq!(frame_len(b"*1\r\n*1\r\n*1\r\n", &small), Err(RespError::TooDeep));
        assert_eq!(frame_len(b"*1\r\n*1\r\n:1\r\n", &small), Ok(Some(12)));
        assert_eq!(frame_len(b"+0123456789abcdefgh", &small), Err(RespError::InlineTooLarge));
        assert_eq!(frame_len(b"+0123456789abcdefg\r\n", &small), Err(RespError::InlineTooLarge));
        assert_eq!(frame_len(b"+0123456789abcdef\r\n", &small), Ok(Some(19)));
        assert_eq!(frame_len(b"+0123456789abcde", &small), Ok(None));
        // A map's pairs count twice, and no count can overflow into a small one.
        assert_eq!(frame_len(b"%2\r\n:1\r\n:2\r\n:3\r\n", &small), Ok(None));
        let huge = format!("%{}\r\n", usize::MAX / 2 + 1);
        assert!(frame_len(huge.as_bytes(), &Limits::SERVER).is_err());
    }

    #[test]
    fn deep_nesting_costs_no_stack() {
        let mut deep = b"*1\r\n".repeat(100_000);
        deep.extend_from_slice(b":1\r\n");
        assert_eq!(len(&deep), Err(RespError::TooDeep));
        let mut fine = b"*1\r\n".repeat(64);
        fine.extend_from_slice(b":1\r\n");
        assert_eq!(len(&fine), Ok(Some(fine.len())));
    }
}
