//! Messages servers send: encoded by the gate for its clients, decoded from PostgreSQL.

use super::tag;
use bytes::{Buf, BufMut, BytesMut};

use super::codec::{get_cstr, put_cstr, put_frame};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest {
    Ok,
    Cleartext,
    Md5 { salt: [u8; 4] },
    Sasl { mechanisms: Vec<String> },
    SaslContinue(Vec<u8>),
    SaslFinal(Vec<u8>),
    Unsupported(i32),
}

pub fn parse_auth(mut body: BytesMut) -> Option<AuthRequest> {
    if body.len() < 4 {
        return None;
    }
    Some(match body.get_i32() {
        0 => AuthRequest::Ok,
        3 => AuthRequest::Cleartext,
        5 if body.len() == 4 => AuthRequest::Md5 { salt: [body[0], body[1], body[2], body[3]] },
        10 => {
            let mut mechanisms = Vec::new();
            while let Some(m) = get_cstr(&mut body) {
                if m.is_empty() {
                    break;
                }
                mechanisms.push(m);
            }
            AuthRequest::Sasl { mechanisms }
        }
        11 => AuthRequest::SaslContinue(body.to_vec()),
        12 => AuthRequest::SaslFinal(body.to_vec()),
        other => AuthRequest::Unsupported(other),
    })
}

pub fn encode_auth_ok(out: &mut BytesMut) {
    put_frame(out, tag::backend::AUTHENTICATION, |b| b.put_i32(0));
}

pub fn encode_auth_cleartext(out: &mut BytesMut) {
    put_frame(out, tag::backend::AUTHENTICATION, |b| b.put_i32(3));
}

pub fn encode_auth_sasl(out: &mut BytesMut, mechanisms: &[&str]) {
    put_frame(out, tag::backend::AUTHENTICATION, |b| {
        b.put_i32(10);
        for m in mechanisms {
            put_cstr(b, m);
        }
        b.put_u8(0);
    });
}

pub fn encode_sasl_continue(out: &mut BytesMut, data: &[u8]) {
    put_frame(out, tag::backend::AUTHENTICATION, |b| {
        b.put_i32(11);
        b.extend_from_slice(data);
    });
}

pub fn encode_parameter_status(out: &mut BytesMut, name: &str, value: &str) {
    put_frame(out, tag::backend::PARAMETER_STATUS, |b| {
        put_cstr(b, name);
        put_cstr(b, value);
    });
}

pub fn parse_parameter_status(mut body: BytesMut) -> Option<(String, String)> {
    Some((get_cstr(&mut body)?, get_cstr(&mut body)?))
}

pub fn encode_backend_key(out: &mut BytesMut, pid: i32, secret: &[u8]) {
    put_frame(out, tag::backend::BACKEND_KEY_DATA, |b| {
        b.put_i32(pid);
        b.extend_from_slice(secret);
    });
}

pub fn parse_backend_key(mut body: BytesMut) -> Option<(i32, Vec<u8>)> {
    if body.len() < 8 {
        return None;
    }
    let pid = body.get_i32();
    Some((pid, body.to_vec()))
}

pub fn encode_ready(out: &mut BytesMut, status: u8) {
    put_frame(out, tag::backend::READY_FOR_QUERY, |b| b.put_u8(status));
}

/// NegotiateProtocolVersion: we speak minor version 0 and none of the `_pq_.` options.
pub fn encode_negotiate_protocol(out: &mut BytesMut, unrecognized: &[&str]) {
    put_frame(out, tag::backend::NEGOTIATE_PROTOCOL_VERSION, |b| {
        b.put_i32(0);
        b.put_i32(unrecognized.len() as i32);
        for o in unrecognized {
            put_cstr(b, o);
        }
    });
}

/// An ErrorResponse or NoticeResponse: what a client sees. SQLSTATE codes per Appendix A.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgError {
    pub severity: &'static str,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
}

impl PgError {
    pub fn fatal(code: &str, message: impl Into<String>) -> Self {
        Self { severity: "FATAL", code: code.to_owned(), message: message.into(), detail: None }
    }

    pub fn error(code: &str, message: impl Into<String>) -> Self {
        Self { severity: "ERROR", code: code.to_owned(), message: message.into(), detail: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

pub fn encode_error(out: &mut BytesMut, e: &PgError) {
    put_frame(out, tag::backend::ERROR_RESPONSE, |b| {
        for (field, value) in
            [(b'S', e.severity), (b'V', e.severity), (b'C', e.code.as_str()), (b'M', e.message.as_str())]
        {
            b.put_u8(field);
            put_cstr(b, value);
        }
        if let Some(detail) = &e.detail {
            b.put_u8(b'D');
            put_cstr(b, detail);
        }
        b.put_u8(0);
    });
}

/// The SQLSTATE and message of an ErrorResponse from PostgreSQL.
pub fn parse_error(mut body: BytesMut) -> (String, String) {
    let (mut code, mut message) = (String::new(), String::new());
    while body.has_remaining() {
        let field = body.get_u8();
        if field == 0 {
            break;
        }
        let Some(value) = get_cstr(&mut body) else { break };
        match field {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::take_frame;

    #[test]
    fn errors_round_trip() {
        let mut out = BytesMut::new();
        encode_error(&mut out, &PgError::fatal("28000", "no mapping").with_detail("roles: a"));
        let frame = take_frame(&mut out, 1024).unwrap().unwrap();
        assert_eq!(frame.tag, b'E');
        assert_eq!(parse_error(frame.body), ("28000".into(), "no mapping".into()));
    }

    #[test]
    fn auth_requests() {
        let mut out = BytesMut::new();
        encode_auth_sasl(&mut out, &["SCRAM-SHA-256", "OAUTHBEARER"]);
        let frame = take_frame(&mut out, 1024).unwrap().unwrap();
        assert_eq!(
            parse_auth(frame.body),
            Some(AuthRequest::Sasl { mechanisms: vec!["SCRAM-SHA-256".into(), "OAUTHBEARER".into()] })
        );
        assert_eq!(
            parse_auth(BytesMut::from(&[0, 0, 0, 5, 1, 2, 3, 4][..])),
            Some(AuthRequest::Md5 { salt: [1, 2, 3, 4] })
        );
        assert_eq!(parse_auth(BytesMut::from(&[0, 0][..])), None);
    }
}
