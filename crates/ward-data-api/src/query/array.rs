//! PostgreSQL's array text (`{1,2,NULL}`, `{{"a b","c"},{d,e}}`, `[0:1]={x,y}`) as nested JSON
//! arrays, each element mapped by the element type. Quoted elements may hold any character,
//! with `\` escaping `"` and `\`; an unquoted `NULL` is SQL NULL (a quoted one is the text).

use super::json::{Scalar, write_scalar};

/// Appends `text` as JSON; false (with nothing appended) if it is not an array literal.
pub fn write(out: &mut Vec<u8>, element: Scalar, text: &[u8]) -> bool {
    // Lower bounds other than 1 come first: `[0:1]={…}`. JSON arrays start at 0 regardless.
    let body = match text.first() {
        Some(b'[') => match text.iter().position(|b| *b == b'=') {
            Some(i) => &text[i + 1..],
            None => return false,
        },
        _ => text,
    };
    let start = out.len();
    let mut parser = Parser { text: body, at: 0, element, scratch: Vec::new() };
    if parser.array(out, 0).is_some() && parser.at == body.len() {
        return true;
    }
    out.truncate(start);
    false
}

/// PostgreSQL's own limit on dimensions (MAXDIM).
const MAX_DEPTH: usize = 6;

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
    element: Scalar,
    scratch: Vec<u8>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH || self.peek()? != b'{' {
            return None;
        }
        self.at += 1;
        out.push(b'[');
        self.skip_spaces();
        if self.peek()? == b'}' {
            self.at += 1;
            out.push(b']');
            return Some(());
        }
        loop {
            self.skip_spaces();
            match self.peek()? {
                b'{' => self.array(out, depth + 1)?,
                b'"' => self.quoted(out)?,
                _ => self.unquoted(out)?,
            }
            self.skip_spaces();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    out.push(b',');
                }
                b'}' => {
                    self.at += 1;
                    out.push(b']');
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn quoted(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.at += 1;
        self.scratch.clear();
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => {
                    self.at += 1;
                    self.scratch.push(self.peek()?);
                }
                b => self.scratch.push(b),
            }
            self.at += 1;
        }
        self.at += 1;
        write_scalar(out, self.element, &self.scratch);
        Some(())
    }

    fn unquoted(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.scratch.clear();
        while let Some(b) = self.peek() {
            match b {
                b',' | b'}' => break,
                b'{' | b'"' => return None,
                b'\\' => {
                    self.at += 1;
                    self.scratch.push(self.peek()?);
                }
                b => self.scratch.push(b),
            }
            self.at += 1;
        }
        while self.scratch.last().is_some_and(u8::is_ascii_whitespace) {
            self.scratch.pop();
        }
        if self.scratch.is_empty() {
            return None;
        }
        if self.scratch.eq_ignore_ascii_case(b"NULL") {
            out.extend_from_slice(b"null");
        } else {
            write_scalar(out, self.element, &self.scratch);
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(element: Scalar, text: &str) -> Option<String> {
        let mut out = Vec::new();
        write(&mut out, element, text.as_bytes()).then(|| String::from_utf8(out).unwrap())
    }

    #[test]
    fn arrays_of_every_shape() {
        assert_eq!(json(Scalar::Integer, "{1,2,NULL}").as_deref(), Some("[1,2,null]"));
        assert_eq!(json(Scalar::Integer, "{}").as_deref(), Some("[]"));
        assert_eq!(json(Scalar::Integer, "{{1,2},{3,4}}").as_deref(), Some("[[1,2],[3,4]]"));
        assert_eq!(json(Scalar::Integer, "[0:1]={7,8}").as_deref(), Some("[7,8]"));
        assert_eq!(
            json(Scalar::Text, r#"{"a b","say \"hi\"",NULL,"NULL",plain}"#).as_deref(),
            Some(r#"["a b","say \"hi\"",null,"NULL","plain"]"#)
        );
        assert_eq!(json(Scalar::Json, r#"{"{\"a\": 1}",null}"#).as_deref(), Some(r#"[{"a": 1},null]"#));
        assert_eq!(json(Scalar::Numeric, "{1.50,NaN}").as_deref(), Some(r#"["1.50","NaN"]"#));
        assert_eq!(json(Scalar::Bool, "{t,f}").as_deref(), Some("[true,false]"));
        assert_eq!(
            json(Scalar::TimestampTz, r#"{"2024-01-02 03:04:05+00"}"#).as_deref(),
            Some(r#"["2024-01-02T03:04:05+00:00"]"#)
        );
    }

    #[test]
    fn what_is_not_an_array_literal_is_refused_whole() {
        for bad in ["", "{1,2", "{1,,2}", "1,2", "{1}x", "{\"open}", "{{{{{{{1}}}}}}}", "[0:1]"] {
            assert_eq!(json(Scalar::Integer, bad), None, "{bad}");
        }
    }
}
