//! Redis's replies, RESP2 or RESP3, as JSON.

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// A RESP2 or RESP3 value as JSON, and its length. Bulk strings become JSON strings when they
/// are UTF-8, and `{"base64": …}` when they are not; RESP3 maps become objects, sets arrays,
/// doubles numbers (or strings for inf and nan), big numbers strings.
pub fn to_json(buf: &[u8]) -> Option<(Value, usize)> {
    let (&kind, _) = buf.split_first()?;
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&buf[1..end]).ok()?;
    let after = end + 2;
    let value = match kind {
        b'+' => (Value::String(line.to_owned()), after),
        b'-' | b'!' => (json!({ "error": line }), after),
        b':' => (Value::from(line.parse::<i64>().ok()?), after),
        b'_' => (Value::Null, after),
        b'#' => (Value::Bool(line == "t"), after),
        b',' => (
            line.parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
                .unwrap_or_else(|| Value::String(line.to_owned())),
            after,
        ),
        b'(' => (Value::String(line.to_owned()), after),
        b'$' | b'=' => {
            let len: i64 = line.parse().ok()?;
            if len < 0 {
                return Some((Value::Null, after));
            }
            let end = after.checked_add(usize::try_from(len).ok()?)?;
            let bytes = buf.get(after..end)?;
            // Verbatim strings start with their format: `txt:`.
            let bytes = if kind == b'=' { bytes.get(4..)? } else { bytes };
            let value = match std::str::from_utf8(bytes) {
                Ok(text) => Value::String(text.to_owned()),
                Err(_) => json!({ "base64": base64::engine::general_purpose::STANDARD.encode(bytes) }),
            };
            (value, end + 2)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let count: i64 = line.parse().ok()?;
            if count < 0 {
                return Some((Value::Null, after));
            }
            let pairs = matches!(kind, b'%' | b'|');
            let mut at = after;
            let mut items = Vec::new();
            for _ in 0..count.saturating_mul(if pairs { 2 } else { 1 }) {
                let (item, len) = to_json(buf.get(at..)?)?;
                items.push(item);
                at += len;
            }
            if kind == b'|' {
                // Attributes describe the value that follows; the value is the answer.
                let (value, len) = to_json(buf.get(at..)?)?;
                return Some((value, at + len));
            }
            let value = if pairs {
                let mut map = Map::new();
                let mut items = items.into_iter();
                while let (Some(k), Some(v)) = (items.next(), items.next()) {
                    let key = match k {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    map.insert(key, v);
                }
                Value::Object(map)
            } else {
                Value::Array(items)
            };
            (value, at)
        }
        _ => return None,
    };
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_of(resp: &str) -> Option<Value> {
        to_json(resp.as_bytes()).map(|(v, len)| {
            assert_eq!(len, resp.len(), "{resp:?} read whole");
            v
        })
    }

    #[test]
    fn replies_as_json() {
        assert_eq!(json_of("+OK\r\n"), Some(json!("OK")));
        assert_eq!(json_of(":-7\r\n"), Some(json!(-7)));
        assert_eq!(json_of("$5\r\nhello\r\n"), Some(json!("hello")));
        assert_eq!(json_of("$-1\r\n"), Some(Value::Null));
        assert_eq!(json_of("*2\r\n$1\r\na\r\n*1\r\n:1\r\n"), Some(json!(["a", [1]])));
        assert_eq!(json_of("%1\r\n+k\r\n,1.5\r\n"), Some(json!({"k": 1.5})));
        assert_eq!(json_of(",inf\r\n"), Some(json!("inf")));
        assert_eq!(json_of("#t\r\n"), Some(json!(true)));
        assert_eq!(json_of("=8\r\ntxt:abcd\r\n"), Some(json!("abcd")));
        assert_eq!(to_json(b"$2\r\n\xff\x00\r\n").map(|(v, _)| v), Some(json!({"base64": "/wA="})));
        assert_eq!(json_of("*3\r\n:1\r\n"), None, "truncated");
        assert_eq!(json_of("$9223372036854775807\r\nx\r\n"), None, "a length past the end");
        assert_eq!(json_of("*9223372036854775807\r\n:1\r\n"), None, "a count past the end");
    }
}
