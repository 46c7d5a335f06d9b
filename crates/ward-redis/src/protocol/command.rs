//! What clients send: a command as an array of bulk strings (what every client library
//! sends), or an inline command (what a person types into telnet or `redis-cli` pipes), parsed
//! as Redis parses them. Multibulk arguments are ranges into the read buffer (no copy, and no
//! allocation once [`Args`] has grown to the largest command seen); inline arguments, which
//! quotes and escapes may change, are unescaped into a scratch buffer.

use std::ops::Range;

use super::frame::{line_end, parse_int};
use super::{Limits, RespError};

/// One command's arguments, reused from one command to the next.
#[derive(Debug, Default)]
pub struct Args {
    ranges: Vec<Range<usize>>,
    /// Unescaped inline arguments; multibulk arguments stay in the caller's buffer.
    scratch: Vec<u8>,
    inline: bool,
}

impl Args {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether the command came inline (its arguments are not in the read buffer).
    pub fn is_inline(&self) -> bool {
        self.inline
    }

    /// Argument `i`; `buf` is the buffer the command was parsed from.
    pub fn get<'a>(&'a self, buf: &'a [u8], i: usize) -> Option<&'a [u8]> {
        let range = self.ranges.get(i)?.clone();
        if self.inline { self.scratch.get(range) } else { buf.get(range) }
    }

    pub fn iter<'a>(&'a self, buf: &'a [u8]) -> impl Iterator<Item = &'a [u8]> + 'a {
        (0..self.len()).filter_map(move |i| self.get(buf, i))
    }

    fn clear(&mut self, inline: bool) {
        self.ranges.clear();
        self.scratch.clear();
        self.inline = inline;
    }
}

/// Parses the command at the start of `buf` into `args`. `Ok(Some(n))`: it took the first `n`
/// bytes (an empty command, which Redis ignores, leaves `args` empty). `Ok(None)`: more bytes
/// are needed. An error: a protocol error, after which Redis closes the connection.
pub fn parse_command(buf: &[u8], limits: &Limits, args: &mut Args) -> Result<Option<usize>, RespError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => multibulk(buf, limits, args),
        Some(_) => inline(buf, limits, args),
    }
}

fn multibulk(buf: &[u8], limits: &Limits, args: &mut Args) -> Result<Option<usize>, RespError> {
    args.clear(false);
    let Some(end) = line_end(buf, 1, limits.max_inline)? else { return Ok(None) };
    let count = parse_int(&buf[1..end]).map_err(|_| RespError::TooManyElements)?;
    let mut at = end + 2;
    if count <= 0 {
        return Ok(Some(at));
    }
    let count = usize::try_from(count).map_err(|_| RespError::TooManyElements)?;
    if count > limits.max_elements {
        return Err(RespError::TooManyElements);
    }
    for _ in 0..count {
        match buf.get(at) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(other) => return Err(RespError::ExpectedBulk(char::from(*other))),
        }
        let Some(end) = line_end(buf, at + 1, limits.max_inline)? else { return Ok(None) };
        let len = parse_int(&buf[at + 1..end]).map_err(|_| RespError::BulkTooLarge)?;
        let len = usize::try_from(len).map_err(|_| RespError::BulkTooLarge)?;
        if len > limits.max_bulk {
            return Err(RespError::BulkTooLarge);
        }
        let start = end + 2;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        if &buf[start + len..start + len + 2] != b"\r\n" {
            return Err(RespError::Malformed("bulk string not followed by CRLF"));
        }
        args.ranges.push(start..start + len);
        at = start + len + 2;
    }
    Ok(Some(at))
}

fn inline(buf: &[u8], limits: &Limits, args: &mut Args) -> Result<Option<usize>, RespError> {
    args.clear(true);
    let Some(newline) = buf.iter().position(|b| *b == b'\n') else {
        return if buf.len() > limits.max_inline { Err(RespError::InlineTooLarge) } else { Ok(None) };
    };
    if newline > limits.max_inline {
        return Err(RespError::InlineTooLarge);
    }
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    split_args(line, args)?;
    Ok(Some(newline + 1))
}

/// Redis's `sdssplitargs`: arguments separated by white space; `"…"` with `\n \r \t \b \a \\ \"`
/// and `\xHH` escapes; `'…'` with `\'`; a closing quote must end its argument.
fn split_args(line: &[u8], args: &mut Args) -> Result<(), RespError> {
    let mut i = 0;
    loop {
        while line.get(i).is_some_and(|c| c.is_ascii_whitespace() || *c == 0x0b) {
            i += 1;
        }
        if i >= line.len() {
            return Ok(());
        }
        let start = args.scratch.len();
        let (mut double, mut single) = (false, false);
        loop {
            let Some(&c) = line.get(i) else {
                if double || single {
                    return Err(RespError::UnbalancedQuotes);
                }
                break;
            };
            if double {
                match c {
                    b'\\'
                        if line.get(i + 1) == Some(&b'x')
                            && line.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
                            && line.get(i + 3).is_some_and(u8::is_ascii_hexdigit) =>
                    {
                        let hex = |d: u8| char::from(d).to_digit(16).map_or(0, |v| v as u8);
                        args.scratch.push(hex(line[i + 2]) << 4 | hex(line[i + 3]));
                        i += 3;
                    }
                    b'\\' if i + 1 < line.len() => {
                        i += 1;
                        args.scratch.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    b'"' => {
                        if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                            return Err(RespError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    other => args.scratch.push(other),
                }
            } else if single {
                match c {
                    b'\\' if line.get(i + 1) == Some(&b'\'') => {
                        args.scratch.push(b'\'');
                        i += 1;
                    }
                    b'\'' => {
                        if line.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                            return Err(RespError::UnbalancedQuotes);
                        }
                        i += 1;
                        break;
                    }
                    other => args.scratch.push(other),
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0x0b | 0x0c => break,
                    b'"' => double = true,
                    b'\'' => single = true,
                    other => args.scratch.push(other),
                }
            }
            i += 1;
        }
        args.ranges.push(start..args.scratch.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `input` with client limits: the arguments as strings, and the bytes taken.
    fn parse(input: &[u8]) -> Result<Option<(Vec<String>, usize)>, RespError> {
        let mut args = Args::default();
        let taken = parse_command(input, &Limits::CLIENT, &mut args)?;
        Ok(taken.map(|n| (args.iter(input).map(|a| String::from_utf8_lossy(a).into_owned()).collect(), n)))
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn multibulk_commands_are_borrowed_in_place() {
        let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nv\r\nal\r\n";
        assert_eq!(parse(input), Ok(Some((words(&["SET", "key", "v\r\nal"]), input.len()))));
        let mut args = Args::default();
        parse_command(input, &Limits::CLIENT, &mut args).ok();
        assert!(!args.is_inline());
        assert_eq!(args.get(input, 2), Some(&b"v\r\nal"[..]), "binary-safe");
        // Two commands in one read: one at a time.
        let two = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(parse(two), Ok(Some((words(&["PING"]), 14))));
        // Empty and null arrays are no command at all, as in Redis.
        assert_eq!(parse(b"*0\r\n"), Ok(Some((vec![], 4))));
        assert_eq!(parse(b"*-1\r\n"), Ok(Some((vec![], 5))));
        assert_eq!(parse(b"*1\r\n$0\r\n\r\n"), Ok(Some((words(&[""]), 10))));
    }

    #[test]
    fn incomplete_commands_ask_for_more() {
        let input = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
        for cut in 0..input.len() {
            assert_eq!(parse(&input[..cut]), Ok(None), "{:?}", String::from_utf8_lossy(&input[..cut]));
        }
        assert_eq!(parse(b"GET ke"), Ok(None));
    }

    #[test]
    fn malformed_multibulk_is_a_protocol_error() {
        assert_eq!(parse(b"*2\r\n:1\r\n"), Err(RespError::ExpectedBulk(':')));
        assert_eq!(parse(b"*x\r\n"), Err(RespError::TooManyElements));
        assert_eq!(parse(b"*1\r\n$x\r\n"), Err(RespError::BulkTooLarge));
        assert_eq!(parse(b"*1\r\n$-1\r\n"), Err(RespError::BulkTooLarge));
        assert_eq!(parse(b"*1\r\n$3\r\nfoobar\r\n"), Err(RespError::Malformed("bulk string not followed by CRLF")));
        assert_eq!(parse(b"*1\r\n$3\rX"), Err(RespError::Malformed("CR not followed by LF")));
    }

    #[test]
    fn limits_hold_before_the_payload_arrives() {
        let limits = Limits { max_bulk: 8, max_elements: 2, max_depth: 1, max_inline: 32 };
        let mut args = Args::default();
        let mut check = |input: &[u8]| parse_command(input, &limits, &mut args);
        assert_eq!(check(b"*3\r\n"), Err(RespError::TooManyElements));
        assert_eq!(check(b"*1\r\n$9\r\n"), Err(RespError::BulkTooLarge));
        assert_eq!(check(b"*1\r\n$8\r\n"), Ok(None));
        assert_eq!(check(&[b'*'; 40]), Err(RespError::InlineTooLarge), "a count line with no end");
        assert_eq!(check(&[b'a'; 40]), Err(RespError::InlineTooLarge), "an inline command with no end");
        let mut long = vec![b'a'; 40];
        long.push(b'\n');
        assert_eq!(check(&long), Err(RespError::InlineTooLarge));
        let default = Limits::CLIENT;
        let count = format!("*{}\r\n", default.max_elements + 1);
        assert_eq!(parse_command(count.as_bytes(), &default, &mut Args::default()), Err(RespError::TooManyElements));
        let bulk = format!("*1\r\n${}\r\n", default.max_bulk + 1);
        assert_eq!(parse_command(bulk.as_bytes(), &default, &mut Args::default()), Err(RespError::BulkTooLarge));
    }

    #[test]
    fn inline_commands_split_as_redis_splits_them() {
        assert_eq!(parse(b"SET key value\r\n"), Ok(Some((words(&["SET", "key", "value"]), 15))));
        assert_eq!(parse(b"  PING  \n"), Ok(Some((words(&["PING"]), 9))));
        assert_eq!(parse(b"\r\n"), Ok(Some((vec![], 2))), "an empty line is no command");
        assert_eq!(
            parse(br#"SET "a b" "x\"y\n\x41\x4a" 'it\'s' ''"#).map(|r| r.map(|(a, _)| a)),
            Ok(None),
            "no newline yet"
        );
        let quoted = b"SET \"a b\" \"x\\\"y\\n\\x41\\x4a\" 'it\\'s' ''\n";
        assert_eq!(parse(quoted).map(|r| r.map(|(a, _)| a)), Ok(Some(words(&["SET", "a b", "x\"y\nAJ", "it's", ""]))));
        assert_eq!(parse(b"GET k\"ey\"\n").map(|r| r.map(|(a, _)| a)), Ok(Some(words(&["GET", "key"]))));
        let mut args = Args::default();
        let input = b"GET \"a b\"\n";
        parse_command(input, &Limits::CLIENT, &mut args).ok();
        assert!(args.is_inline());
        assert_eq!(args.get(input, 1), Some(&b"a b"[..]));
    }

    #[test]
    fn unbalanced_quotes_are_refused() {
        assert_eq!(parse(b"SET \"abc\n"), Err(RespError::UnbalancedQuotes));
        assert_eq!(parse(b"SET 'abc\n"), Err(RespError::UnbalancedQuotes));
        assert_eq!(parse(b"SET \"a\"b\n"), Err(RespError::UnbalancedQuotes), "a closing quote must end its argument");
        assert_eq!(parse(b"SET 'a'b\n"), Err(RespError::UnbalancedQuotes));
    }

    #[test]
    fn arguments_are_reused_without_growing() {
        let mut args = Args::default();
        let big = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        parse_command(big, &Limits::CLIENT, &mut args).ok();
        let capacity = args.ranges.capacity();
        for _ in 0..1000 {
            parse_command(big, &Limits::CLIENT, &mut args).ok();
        }
        assert_eq!(args.ranges.capacity(), capacity);
    }
}
