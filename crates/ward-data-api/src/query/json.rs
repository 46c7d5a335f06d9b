//! PostgreSQL values, as the server writes them in text format, to JSON, by type: numbers
//! stay numbers where JSON holds them exactly (integers, floats), `numeric` becomes a string
//! (its precision is arbitrary), `bytea` base64, timestamps RFC 3339, `json`/`jsonb` inline,
//! arrays JSON arrays of their elements' mapping, and everything else (text, uuid, inet,
//! dates, intervals as ISO 8601, enums, composites) its text. The session is set up so the
//! text is predictable: `DateStyle=ISO`, `IntervalStyle=iso_8601`, `TimeZone=UTC`.
//!
//! Values are written straight into the response body: no intermediate `serde_json::Value`.

use base64::Engine as _;

use super::array;

/// How a type's text becomes JSON: as one value, or as an array of them (arrays of arrays are
/// one multi-dimensional array in PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Scalar(Scalar),
    Array(Scalar),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Bool,
    /// Integers: the text is a JSON number as it stands.
    Integer,
    /// float4/float8: numbers, but `NaN` and the infinities as strings.
    Float,
    /// numeric: a string, so no digit is lost to a client's doubles.
    Numeric,
    Json,
    Bytea,
    /// timestamp without time zone: RFC 3339's date-time without an offset.
    Timestamp,
    /// timestamptz: RFC 3339.
    TimestampTz,
    Text,
}

use Scalar::{Bool, Bytea, Float, Integer, Json, Numeric, Text, Timestamp, TimestampTz};

const fn one(scalar: Scalar) -> Kind {
    Kind::Scalar(scalar)
}

const fn many(scalar: Scalar) -> Kind {
    Kind::Array(scalar)
}

/// Built-in types by OID: name, and how their text maps. OIDs are fixed for built-ins
/// (`pg_type.dat`); any other type (enums, domains, composites, extensions) is text.
const TYPES: &[(u32, &str, Kind)] = &[
    (16, "bool", one(Bool)),
    (17, "bytea", one(Bytea)),
    (18, "char", one(Text)),
    (19, "name", one(Text)),
    (20, "int8", one(Integer)),
    (21, "int2", one(Integer)),
    (23, "int4", one(Integer)),
    (25, "text", one(Text)),
    (26, "oid", one(Integer)),
    (114, "json", one(Json)),
    (142, "xml", one(Text)),
    (143, "_xml", many(Text)),
    (199, "_json", many(Json)),
    (650, "cidr", one(Text)),
    (651, "_cidr", many(Text)),
    (700, "float4", one(Float)),
    (701, "float8", one(Float)),
    (790, "money", one(Text)),
    (791, "_money", many(Text)),
    (829, "macaddr", one(Text)),
    (869, "inet", one(Text)),
    (1000, "_bool", many(Bool)),
    (1001, "_bytea", many(Bytea)),
    (1002, "_char", many(Text)),
    (1003, "_name", many(Text)),
    (1005, "_int2", many(Integer)),
    (1007, "_int4", many(Integer)),
    (1009, "_text", many(Text)),
    (1014, "_bpchar", many(Text)),
    (1015, "_varchar", many(Text)),
    (1016, "_int8", many(Integer)),
    (1021, "_float4", many(Float)),
    (1022, "_float8", many(Float)),
    (1028, "_oid", many(Integer)),
    (1040, "_macaddr", many(Text)),
    (1041, "_inet", many(Text)),
    (1042, "bpchar", one(Text)),
    (1043, "varchar", one(Text)),
    (1082, "date", one(Text)),
    (1083, "time", one(Text)),
    (1114, "timestamp", one(Timestamp)),
    (1115, "_timestamp", many(Timestamp)),
    (1182, "_date", many(Text)),
    (1183, "_time", many(Text)),
    (1184, "timestamptz", one(TimestampTz)),
    (1185, "_timestamptz", many(TimestampTz)),
    (1186, "interval", one(Text)),
    (1187, "_interval", many(Text)),
    (1231, "_numeric", many(Numeric)),
    (1266, "timetz", one(Text)),
    (1270, "_timetz", many(Text)),
    (1560, "bit", one(Text)),
    (1562, "varbit", one(Text)),
    (1700, "numeric", one(Numeric)),
    (2950, "uuid", one(Text)),
    (2951, "_uuid", many(Text)),
    (3614, "tsvector", one(Text)),
    (3802, "jsonb", one(Json)),
    (3807, "_jsonb", many(Json)),
    (4072, "jsonpath", one(Text)),
];

/// The type's name and kind; `None` for a type that is not built in.
pub fn lookup(oid: u32) -> Option<(&'static str, Kind)> {
    TYPES.binary_search_by_key(&oid, |(o, _, _)| *o).ok().map(|i| (TYPES[i].1, TYPES[i].2))
}

pub fn kind(oid: u32) -> Kind {
    lookup(oid).map_or(one(Text), |(_, kind)| kind)
}

/// Appends the JSON for one value (`None`: SQL NULL).
pub fn write_value(out: &mut Vec<u8>, kind: Kind, text: Option<&[u8]>) {
    let Some(text) = text else {
        out.extend_from_slice(b"null");
        return;
    };
    match kind {
        Kind::Array(element) => {
            if !array::write(out, element, text) {
                // Not the literal this mapping knows (a custom delimiter, say): its text.
                write_string(out, text);
            }
        }
        Kind::Scalar(scalar) => write_scalar(out, scalar, text),
    }
}

/// Appends the JSON for one non-null scalar.
pub fn write_scalar(out: &mut Vec<u8>, kind: Scalar, text: &[u8]) {
    match kind {
        Scalar::Bool => out.extend_from_slice(if text == b"t" { b"true" } else { b"false" }),
        Scalar::Integer if is_integer(text) => out.extend_from_slice(text),
        Scalar::Float if is_json_number(text) => out.extend_from_slice(text),
        Scalar::Json if serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok() => out.extend_from_slice(text),
        Scalar::Bytea => match text.strip_prefix(b"\\x").and_then(hex) {
            Some(bytes) => {
                out.push(b'"');
                out.extend_from_slice(base64::engine::general_purpose::STANDARD.encode(bytes).as_bytes());
                out.push(b'"');
            }
            None => write_string(out, text),
        },
        Scalar::Timestamp | Scalar::TimestampTz => write_string(out, rfc3339(text).as_deref().unwrap_or(text)),
        // NaN and ±Infinity, numeric's text, and anything unexpected: a string.
        _ => write_string(out, text),
    }
}

/// A JSON string of `text` (UTF-8, as `client_encoding` makes it; anything else replaced).
pub fn write_string(out: &mut Vec<u8>, text: &[u8]) {
    let text = String::from_utf8_lossy(text);
    // Writing a str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text.as_ref());
}

fn is_integer(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// PostgreSQL's float text is a JSON number unless it is NaN or infinite.
fn is_json_number(text: &[u8]) -> bool {
    text.first().is_some_and(|b| b.is_ascii_digit() || *b == b'-')
        && text.iter().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
        && !text.eq_ignore_ascii_case(b"-infinity")
}

fn hex(digits: &[u8]) -> Option<Vec<u8>> {
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()).collect()
}

/// ISO `2024-01-02 03:04:05.5+00` as RFC 3339 `2024-01-02T03:04:05.5+00:00`; `None` for what
/// RFC 3339 cannot say (infinity, BC years, offsets with seconds), which stays PostgreSQL's.
fn rfc3339(text: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(text).ok()?;
    let (date, time) = text.split_once(' ')?;
    if date.len() != 10 || time.contains(' ') {
        return None;
    }
    // The offset starts at the first sign after the hours.
    let offset_at = time.find(['+', '-']);
    let (clock, offset) = match offset_at {
        Some(i) => time.split_at(i),
        None => (time, ""),
    };
    let offset = match offset.len() {
        0 => String::new(),
        3 => format!("{offset}:00"),
        6 => offset.to_owned(),
        _ => return None,
    };
    Some(format!("{date}T{clock}{offset}").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(kind: Kind, text: Option<&str>) -> String {
        let mut out = Vec::new();
        write_value(&mut out, kind, text.map(str::as_bytes));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(TYPES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(lookup(1184).map(|(n, _)| n), Some("timestamptz"));
        assert_eq!(kind(999_999), one(Text));
    }

    #[test]
    fn scalars() {
        assert_eq!(json(one(Integer), Some("-42")), "-42");
        assert_eq!(json(one(Integer), Some("9223372036854775807")), "9223372036854775807");
        assert_eq!(json(one(Float), Some("1.5e+20")), "1.5e+20");
        assert_eq!(json(one(Float), Some("NaN")), "\"NaN\"");
        assert_eq!(json(one(Float), Some("-Infinity")), "\"-Infinity\"");
        assert_eq!(json(one(Numeric), Some("3.14159265358979323846")), "\"3.14159265358979323846\"");
        assert_eq!(json(one(Bool), Some("t")), "true");
        assert_eq!(json(one(Text), None), "null");
        assert_eq!(json(one(Text), Some("say \"hi\"\n")), r#""say \"hi\"\n""#);
        assert_eq!(json(one(Bytea), Some("\\x00ff41")), "\"AP9B\"");
        assert_eq!(json(one(Json), Some(r#"{"a": [1, 2]}"#)), r#"{"a": [1, 2]}"#);
    }

    #[test]
    fn timestamps_as_rfc_3339() {
        assert_eq!(
            json(one(TimestampTz), Some("2024-01-02 03:04:05.123456+00")),
            "\"2024-01-02T03:04:05.123456+00:00\""
        );
        assert_eq!(json(one(TimestampTz), Some("2024-01-02 03:04:05+05:30")), "\"2024-01-02T03:04:05+05:30\"");
        assert_eq!(json(one(Timestamp), Some("2024-01-02 03:04:05")), "\"2024-01-02T03:04:05\"");
        assert_eq!(json(one(TimestampTz), Some("infinity")), "\"infinity\"");
        assert_eq!(json(one(Timestamp), Some("0044-03-15 12:00:00 BC")), "\"0044-03-15 12:00:00 BC\"");
        assert_eq!(json(one(TimestampTz), Some("1900-01-01 00:00:00+00:09:21")), "\"1900-01-01 00:00:00+00:09:21\"");
    }
}
