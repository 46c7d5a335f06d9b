//! Replies the gate writes itself: errors (`-NOAUTH …`, `-NOPERM …`), `+OK`, and the plain
//! values its own answers need. Error text never carries a CR or LF, which would end the line
//! early and let the rest be read as another reply.

use bytes::{BufMut, BytesMut};

/// `-<CODE> <message>\r\n`, with any CR or LF in `message` made a space.
pub fn error(out: &mut BytesMut, code: &str, message: &str) {
    out.put_u8(b'-');
    out.extend_from_slice(code.as_bytes());
    out.put_u8(b' ');
    out.extend(message.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

pub fn ok(out: &mut BytesMut) {
    out.extend_from_slice(b"+OK\r\n");
}

pub fn simple(out: &mut BytesMut, text: &str) {
    out.put_u8(b'+');
    out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
    out.extend_from_slice(b"\r\n");
}

pub fn integer(out: &mut BytesMut, value: i64) {
    out.put_u8(b':');
    out.extend_from_slice(value.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// `<kind><len>\r\n`, without allocating (written for every argument of every command).
pub fn header(out: &mut BytesMut, kind: u8, len: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = len;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.put_u8(kind);
    out.extend_from_slice(&digits[at..]);
    out.extend_from_slice(b"\r\n");
}

pub fn bulk(out: &mut BytesMut, value: &[u8]) {
    header(out, b'$', value.len());
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A null: `$-1` in RESP2, `_` in RESP3.
pub fn null(out: &mut BytesMut, resp3: bool) {
    out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" });
}

/// The header of an array of `len` values.
pub fn array(out: &mut BytesMut, len: usize) {
    header(out, b'*', len);
}

/// The header of a map of `len` pairs (RESP3).
pub fn map(out: &mut BytesMut, len: usize) {
    header(out, b'%', len);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Limits, frame_len};

    #[test]
    fn what_the_gate_writes_frames_as_what_it_means() {
        let mut out = BytesMut::new();
        error(&mut out, "NOAUTH", "Authentication required.\r\n+OK");
        assert_eq!(&out[..], b"-NOAUTH Authentication required.  +OK\r\n", "no reply smuggled in an error");
        out.clear();
        array(&mut out, 3);
        bulk(&mut out, b"a\r\nb");
        integer(&mut out, -7);
        null(&mut out, false);
        assert_eq!(frame_len(&out, &Limits::SERVER), Ok(Some(out.len())));
        out.clear();
        map(&mut out, 1);
        simple(&mut out, "server");
        null(&mut out, true);
        ok(&mut out);
        assert_eq!(frame_len(&out, &Limits::SERVER), Ok(Some(out.len() - 5)));
    }
}
