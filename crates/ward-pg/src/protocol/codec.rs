//! Framing. A startup packet is `Int32 length, Int32 code, body`; every later message is
//! `Byte1 tag, Int32 length, body`, the length counting itself but not the tag. Both are
//! bounded, so a peer cannot make us buffer without limit.

use bytes::{Buf, BufMut, BytesMut};

/// Startup packets larger than this are refused (PostgreSQL itself allows 10,000 bytes).
pub const MAX_STARTUP_LEN: usize = 10 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message length {0} is invalid")]
    BadLength(i64),
    #[error("message of {len} bytes exceeds the limit of {limit}")]
    TooLarge { len: usize, limit: usize },
}

/// One tagged message: its tag and its body (without tag and length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub tag: u8,
    pub body: BytesMut,
}

/// Takes one startup packet from `buf` if it is complete: `(code, body)`.
pub fn take_startup(buf: &mut BytesMut) -> Result<Option<(i32, BytesMut)>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if !(8..=MAX_STARTUP_LEN as i32).contains(&len) {
        return Err(if len > MAX_STARTUP_LEN as i32 {
            FrameError::TooLarge { len: len as usize, limit: MAX_STARTUP_LEN }
        } else {
            FrameError::BadLength(i64::from(len))
        });
    }
    let len = len as usize;
    if buf.len() < len {
        return Ok(None);
    }
    let mut packet = buf.split_to(len);
    packet.advance(4);
    let code = packet.get_i32();
    Ok(Some((code, packet)))
}

/// Takes one tagged message from `buf` if it is complete.
pub fn take_frame(buf: &mut BytesMut, limit: usize) -> Result<Option<Frame>, FrameError> {
    let Some(whole) = frame_len(buf, limit)? else { return Ok(None) };
    let mut frame = buf.split_to(whole);
    let tag = frame.get_u8();
    frame.advance(4);
    Ok(Some(Frame { tag, body: frame }))
}

/// Appends a tagged message, computing its length.
/// The length, header included, of the message at the start of `buf` once all of it is
/// there; reserves room for the rest otherwise, so the next read can complete it.
pub fn frame_len(buf: &mut BytesMut, limit: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 {
        return Err(FrameError::BadLength(i64::from(len)));
    }
    let len = len as usize;
    if len > limit {
        return Err(FrameError::TooLarge { len, limit });
    }
    if buf.len() < len + 1 {
        buf.reserve(len + 1 - buf.len());
        return Ok(None);
    }
    Ok(Some(len + 1))
}

pub fn put_frame(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.extend_from_slice(&[tag, 0, 0, 0, 0]);
    let start = out.len() - 4;
    body(out);
    let len = (out.len() - start) as i32;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

/// Reads a NUL-terminated string; `None` if there is no NUL or it is not UTF-8.
pub fn get_cstr(buf: &mut BytesMut) -> Option<String> {
    let end = buf.iter().position(|b| *b == 0)?;
    let s = std::str::from_utf8(&buf[..end]).ok()?.to_owned();
    buf.advance(end + 1);
    Some(s)
}

/// A value as Bind and DataRow carry one: its length and bytes, or -1 for NULL.
pub fn put_value(out: &mut BytesMut, value: Option<&[u8]>) {
    match value {
        Some(bytes) => {
            out.put_i32(bytes.len() as i32);
            out.extend_from_slice(bytes);
        }
        None => out.put_i32(-1),
    }
}

pub fn put_cstr(out: &mut BytesMut, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(&[0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_more() {
        let mut out = BytesMut::new();
        put_frame(&mut out, b'Q', |b| put_cstr(b, "select 1"));
        let whole = out.clone();
        let mut partial = BytesMut::from(&whole[..6]);
        assert_eq!(take_frame(&mut partial, 1024).unwrap(), None);
        partial.extend_from_slice(&whole[6..]);
        let mut frame = take_frame(&mut partial, 1024).unwrap().unwrap();
        assert_eq!(frame.tag, b'Q');
        assert_eq!(get_cstr(&mut frame.body).as_deref(), Some("select 1"));
        assert!(partial.is_empty());
    }

    #[test]
    fn refuses_bad_and_oversize_lengths() {
        let mut bad = BytesMut::from(&[b'Q', 0, 0, 0, 2][..]);
        assert_eq!(take_frame(&mut bad, 1024), Err(FrameError::BadLength(2)));
        let mut big = BytesMut::from(&[b'Q', 0, 1, 0, 0][..]);
        assert!(matches!(take_frame(&mut big, 1024), Err(FrameError::TooLarge { .. })));
        let mut startup = BytesMut::from(&(20_000i32).to_be_bytes()[..]);
        assert!(matches!(take_startup(&mut startup), Err(FrameError::TooLarge { .. })));
        let mut tiny = BytesMut::from(&(4i32).to_be_bytes()[..]);
        assert_eq!(take_startup(&mut tiny), Err(FrameError::BadLength(4)));
    }
}
