//! Messages clients send, decoded for the gate; and the same messages encoded, for the gate
//! speaking to PostgreSQL as a client.

use bytes::{Buf, BufMut, BytesMut};

use super::codec::{get_cstr, put_cstr, put_frame};
use super::tag;

pub const SSL_REQUEST: i32 = 80_877_103;
pub const GSSENC_REQUEST: i32 = 80_877_104;
pub const CANCEL_REQUEST: i32 = 80_877_102;
/// Protocol 3.0; minor versions above 0 are answered with NegotiateProtocolVersion.
pub const PROTOCOL_3_0: i32 = 3 << 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    SslRequest,
    GssEncRequest,
    Cancel { pid: i32, secret: Vec<u8> },
    Startup { minor: u16, params: StartupParams },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartupParams(pub Vec<(String, String)>);

impl StartupParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartupError {
    #[error("unsupported frontend protocol {}.{}: the gate speaks 3.0", .0 >> 16, .0 & 0xffff)]
    UnsupportedProtocol(i32),
    #[error("malformed startup packet: {0}")]
    Malformed(&'static str),
}

pub fn parse_startup(code: i32, mut body: BytesMut) -> Result<Startup, StartupError> {
    match code {
        SSL_REQUEST => Ok(Startup::SslRequest),
        GSSENC_REQUEST => Ok(Startup::GssEncRequest),
        CANCEL_REQUEST => {
            if body.len() < 8 || body.len() > 4 + 256 {
                return Err(StartupError::Malformed("cancel request"));
            }
            let pid = body.get_i32();
            Ok(Startup::Cancel { pid, secret: body.to_vec() })
        }
        v if v >> 16 == 3 => {
            let mut params = Vec::new();
            loop {
                let name = get_cstr(&mut body).ok_or(StartupError::Malformed("unterminated parameter"))?;
                if name.is_empty() {
                    break;
                }
                let value = get_cstr(&mut body).ok_or(StartupError::Malformed("unterminated value"))?;
                if params.iter().any(|(n, _)| *n == name) {
                    return Err(StartupError::Malformed("repeated parameter"));
                }
                params.push((name, value));
            }
            Ok(Startup::Startup { minor: (v & 0xffff) as u16, params: StartupParams(params) })
        }
        other => Err(StartupError::UnsupportedProtocol(other)),
    }
}

/// PasswordMessage: the password (here, a token) as a C string.
pub fn parse_password(mut body: BytesMut) -> Option<String> {
    let s = get_cstr(&mut body)?;
    body.is_empty().then_some(s)
}

/// SASLInitialResponse: mechanism name and the optional initial response.
pub fn parse_sasl_initial(mut body: BytesMut) -> Option<(String, Option<Vec<u8>>)> {
    let mechanism = get_cstr(&mut body)?;
    if body.len() < 4 {
        return None;
    }
    let len = body.get_i32();
    if len == -1 {
        return body.is_empty().then_some((mechanism, None));
    }
    (len >= 0 && body.len() == len as usize).then(|| (mechanism, Some(body.to_vec())))
}

pub fn encode_startup(out: &mut BytesMut, params: &[(&str, &str)]) {
    let start = out.len();
    out.put_i32(0);
    out.put_i32(PROTOCOL_3_0);
    for (name, value) in params {
        put_cstr(out, name);
        put_cstr(out, value);
    }
    out.put_u8(0);
    let len = (out.len() - start) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

pub fn encode_ssl_request(out: &mut BytesMut) {
    out.put_i32(8);
    out.put_i32(SSL_REQUEST);
}

pub fn encode_cancel(out: &mut BytesMut, pid: i32, secret: &[u8]) {
    out.put_i32(12 + secret.len() as i32);
    out.put_i32(CANCEL_REQUEST);
    out.put_i32(pid);
    out.extend_from_slice(secret);
}

pub fn encode_password(out: &mut BytesMut, password: &str) {
    put_frame(out, tag::frontend::PASSWORD, |b| put_cstr(b, password));
}

pub fn encode_sasl_initial(out: &mut BytesMut, mechanism: &str, data: &[u8]) {
    put_frame(out, tag::frontend::PASSWORD, |b| {
        put_cstr(b, mechanism);
        b.put_i32(data.len() as i32);
        b.extend_from_slice(data);
    });
}

pub fn encode_sasl_response(out: &mut BytesMut, data: &[u8]) {
    put_frame(out, tag::frontend::PASSWORD, |b| b.extend_from_slice(data));
}

// The extended query protocol, split and built without copying names: the transaction
// pooling loop renames prepared statements in every transaction, and must not allocate
// to do it.

/// A NUL-terminated name at the start of `bytes`, and what follows it. Borrowed.
pub fn split_cstr(bytes: &[u8]) -> Option<(&str, &[u8])> {
    let end = bytes.iter().position(|b| *b == 0)?;
    Some((std::str::from_utf8(&bytes[..end]).ok()?, &bytes[end + 1..]))
}

/// A Parse body: the statement name, and its definition (query text and parameter types).
pub fn split_parse(body: &[u8]) -> Option<(&str, &[u8])> {
    split_cstr(body)
}

/// The query text of a Parse definition.
pub fn query_text(definition: &[u8]) -> &[u8] {
    let end = definition.iter().position(|b| *b == 0).unwrap_or(definition.len());
    &definition[..end]
}

pub fn encode_parse(out: &mut BytesMut, name: &str, definition: &[u8]) {
    put_frame(out, tag::frontend::PARSE, |b| {
        put_cstr(b, name);
        b.extend_from_slice(definition);
    });
}

/// A Bind body: portal, statement, then the rest (formats, parameters, result formats).
pub fn split_bind(body: &[u8]) -> Option<(&str, &str, &[u8])> {
    let (portal, rest) = split_cstr(body)?;
    let (statement, rest) = split_cstr(rest)?;
    Some((portal, statement, rest))
}

pub fn encode_bind(out: &mut BytesMut, portal: &str, statement: &str, rest: &[u8]) {
    put_frame(out, tag::frontend::BIND, |b| {
        put_cstr(b, portal);
        put_cstr(b, statement);
        b.extend_from_slice(rest);
    });
}

/// A Describe or Close body: [`tag::target`] and a name.
pub fn split_target(body: &[u8]) -> Option<(u8, &str)> {
    let (&kind, rest) = body.split_first()?;
    Some((kind, split_cstr(rest)?.0))
}

/// Describe or Close (`message` is the tag) of a statement or portal.
pub fn encode_target(out: &mut BytesMut, message: u8, kind: u8, name: &str) {
    put_frame(out, message, |b| {
        b.put_u8(kind);
        put_cstr(b, name);
    });
}

/// Execute of `portal`, all rows.
pub fn encode_execute(out: &mut BytesMut, portal: &str) {
    put_frame(out, tag::frontend::EXECUTE, |b| {
        put_cstr(b, portal);
        b.put_i32(0);
    });
}

pub fn encode_sync(out: &mut BytesMut) {
    put_frame(out, tag::frontend::SYNC, |_| {});
}

pub fn encode_query(out: &mut BytesMut, sql: &str) {
    put_frame(out, tag::frontend::QUERY, |b| put_cstr(b, sql));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::take_startup;

    #[test]
    fn startup_round_trip() {
        let mut out = BytesMut::new();
        encode_startup(&mut out, &[("user", "ada"), ("database", "app")]);
        let (code, body) = take_startup(&mut out).unwrap().unwrap();
        let Startup::Startup { minor, params } = parse_startup(code, body).unwrap() else { panic!() };
        assert_eq!(minor, 0);
        assert_eq!(params.get("user"), Some("ada"));
        assert_eq!(params.get("database"), Some("app"));
    }

    #[test]
    fn special_requests_and_bad_packets() {
        let mut out = BytesMut::new();
        encode_ssl_request(&mut out);
        let (code, body) = take_startup(&mut out).unwrap().unwrap();
        assert_eq!(parse_startup(code, body).unwrap(), Startup::SslRequest);
        encode_cancel(&mut out, 42, &[1, 2, 3, 4]);
        let (code, body) = take_startup(&mut out).unwrap().unwrap();
        assert_eq!(parse_startup(code, body).unwrap(), Startup::Cancel { pid: 42, secret: vec![1, 2, 3, 4] });
        assert_eq!(parse_startup(2 << 16, BytesMut::new()), Err(StartupError::UnsupportedProtocol(2 << 16)));
        assert!(parse_startup(PROTOCOL_3_0, BytesMut::from(&b"user\0ada"[..])).is_err());
        assert!(parse_startup(PROTOCOL_3_0, BytesMut::from(&b"user\0a\0user\0b\0\0"[..])).is_err());
    }

    #[test]
    fn sasl_initial_response() {
        let mut body = BytesMut::new();
        put_cstr(&mut body, "OAUTHBEARER");
        body.put_i32(3);
        body.extend_from_slice(b"abc");
        assert_eq!(parse_sasl_initial(body), Some(("OAUTHBEARER".into(), Some(b"abc".to_vec()))));
        let mut short = BytesMut::new();
        put_cstr(&mut short, "X");
        short.put_i32(10);
        assert_eq!(parse_sasl_initial(short), None);
    }

    #[test]
    fn extended_messages_split_and_rebuild() {
        let mut body = BytesMut::new();
        put_cstr(&mut body, "portal");
        put_cstr(&mut body, "s1");
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let (portal, statement, rest) = split_bind(&body).expect("a bind body");
        assert_eq!((portal, statement, rest.len()), ("portal", "s1", 6));
        let mut out = BytesMut::new();
        encode_target(&mut out, tag::frontend::DESCRIBE, tag::target::STATEMENT, "x");
        let frame = crate::protocol::codec::take_frame(&mut out, 100).ok().flatten().expect("a frame");
        assert_eq!(split_target(&frame.body), Some((tag::target::STATEMENT, "x")));
        assert_eq!(split_target(b""), None);
        assert_eq!(split_cstr(b"\xff\0"), None, "names are UTF-8");
        assert_eq!(query_text(b"select 1\0\0\0"), b"select 1");
    }
}
