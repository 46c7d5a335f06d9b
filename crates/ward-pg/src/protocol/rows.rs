//! Query results as PostgreSQL sends them, sans IO: RowDescription (the columns), DataRow (one
//! row's values, in the columns' formats), CommandComplete (the tag, and how many rows), and
//! ErrorResponse with every field a client may show. For a client of the gate's own, such as
//! the HTTP data API; the relay never decodes rows.

use bytes::Buf;

use super::frontend::split_cstr;

/// One column of a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The type's OID (`pg_type.oid`).
    pub type_oid: u32,
    /// 0 text, 1 binary.
    pub format: i16,
}

/// The columns of a RowDescription body; `None` if it is malformed.
pub fn parse_row_description(mut body: &[u8]) -> Option<Vec<Column>> {
    if body.len() < 2 {
        return None;
    }
    let count = body.get_i16();
    let mut columns = Vec::with_capacity(usize::try_from(count).ok()?);
    for _ in 0..count {
        let (name, rest) = split_cstr(body)?;
        body = rest;
        // Table OID (4), column number (2), type OID (4), size (2), modifier (4), format (2).
        if body.len() < 18 {
            return None;
        }
        body.advance(6);
        let type_oid = body.get_u32();
        body.advance(6);
        let format = body.get_i16();
        columns.push(Column { name: name.to_owned(), type_oid, format });
    }
    Some(columns)
}

/// The values of a DataRow body, `None` for SQL NULL, each given to `each` in column order.
/// False if the body is malformed.
pub fn for_each_value<'a>(mut body: &'a [u8], mut each: impl FnMut(usize, Option<&'a [u8]>)) -> bool {
    if body.len() < 2 {
        return false;
    }
    let count = body.get_i16();
    for i in 0..usize::try_from(count).unwrap_or(0) {
        if body.len() < 4 {
            return false;
        }
        let len = body.get_i32();
        if len < 0 {
            each(i, None);
            continue;
        }
        let len = len as usize;
        if body.len() < len {
            return false;
        }
        let (value, rest) = body.split_at(len);
        each(i, Some(value));
        body = rest;
    }
    body.is_empty()
}

/// A CommandComplete tag's command word and row count: `INSERT 0 5` is `("INSERT", Some(5))`,
/// `SELECT 3` is `("SELECT", Some(3))`, `CREATE TABLE` is `("CREATE TABLE", None)`.
pub fn parse_command_complete(body: &[u8]) -> (String, Option<u64>) {
    let tag = String::from_utf8_lossy(body.strip_suffix(b"\0").unwrap_or(body)).into_owned();
    match tag.rsplit_once(' ') {
        Some((command, count)) if count.bytes().all(|b| b.is_ascii_digit()) && !count.is_empty() => {
            let command = command.strip_suffix(" 0").filter(|_| command.starts_with("INSERT")).unwrap_or(command);
            (command.to_owned(), count.parse().ok())
        }
        _ => (tag, None),
    }
}

/// An ErrorResponse (or NoticeResponse) with the fields a client may show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerError {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// 1-based character position in the query text.
    pub position: Option<u32>,
}

pub fn parse_server_error(mut body: &[u8]) -> ServerError {
    let mut error = ServerError::default();
    while let Some((&field, rest)) = body.split_first() {
        if field == 0 {
            break;
        }
        let Some((value, rest)) = split_cstr(rest) else { break };
        body = rest;
        match field {
            b'V' => error.severity = value.to_owned(),
            b'S' if error.severity.is_empty() => error.severity = value.to_owned(),
            b'C' => error.code = value.to_owned(),
            b'M' => error.message = value.to_owned(),
            b'D' => error.detail = Some(value.to_owned()),
            b'H' => error.hint = Some(value.to_owned()),
            b'P' => error.position = value.parse().ok(),
            _ => {}
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};

    use super::*;
    use crate::protocol::codec::put_cstr;

    #[test]
    fn row_descriptions_and_rows() {
        let mut body = BytesMut::new();
        body.put_i16(2);
        for (name, oid) in [("id", 23u32), ("note", 25)] {
            put_cstr(&mut body, name);
            body.put_u32(16384);
            body.put_i16(1);
            body.put_u32(oid);
            body.put_i16(-1);
            body.put_i32(-1);
            body.put_i16(0);
        }
        let columns = parse_row_description(&body).unwrap();
        assert_eq!(columns[1], Column { name: "note".into(), type_oid: 25, format: 0 });
        assert_eq!(parse_row_description(&body[..body.len() - 1]), None);

        let mut row = BytesMut::new();
        row.put_i16(2);
        row.put_i32(2);
        row.extend_from_slice(b"42");
        row.put_i32(-1);
        let mut seen = Vec::new();
        assert!(for_each_value(&row, |i, v| seen.push((i, v.map(<[u8]>::to_vec)))));
        assert_eq!(seen, [(0, Some(b"42".to_vec())), (1, None)]);
        // A value longer than the message, or bytes after the last value: malformed.
        let mut long = BytesMut::new();
        long.put_i16(1);
        long.put_i32(100);
        assert!(!for_each_value(&long, |_, _| {}));
        let mut extra = row.clone();
        extra.put_u8(0);
        assert!(!for_each_value(&extra, |_, _| {}));
    }

    #[test]
    fn command_tags() {
        assert_eq!(parse_command_complete(b"INSERT 0 5\0"), ("INSERT".into(), Some(5)));
        assert_eq!(parse_command_complete(b"SELECT 3\0"), ("SELECT".into(), Some(3)));
        assert_eq!(parse_command_complete(b"CREATE TABLE\0"), ("CREATE TABLE".into(), None));
        assert_eq!(parse_command_complete(b"BEGIN\0"), ("BEGIN".into(), None));
    }

    #[test]
    fn errors_with_every_field() {
        let body = b"SERROR\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0P15\0Hcheck it\0\0";
        let e = parse_server_error(body);
        assert_eq!((e.severity.as_str(), e.code.as_str(), e.position), ("ERROR", "42P01", Some(15)));
        assert_eq!(e.hint.as_deref(), Some("check it"));
        assert_eq!(e.detail, None);
    }
}
