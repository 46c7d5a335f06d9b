//! Form parameters as RFC 6749 wants them read: a parameter sent without a value is treated
//! as omitted (§3.1), and a parameter sent twice makes the request invalid (§3.2).

use ward_core::OAuthError;

/// More parameters than any OAuth request needs; a bound on work per request.
pub const MAX_PARAMS: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct FormParams {
    pairs: Vec<(String, String)>,
}

impl FormParams {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(body) {
            if pairs.len() == MAX_PARAMS {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request("a parameter is repeated"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`, or `None` when it is absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// The parameters as a form body again, in the order they came.
    pub fn encode(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            out.append_pair(name, value);
        }
        out.finish()
    }

    /// Every parameter but those named in `except`.
    pub fn without(&self, except: &[&str]) -> Self {
        Self { pairs: self.pairs.iter().filter(|(n, _)| !except.contains(&n.as_str())).cloned().collect() }
    }

    /// Sets `name` to `value`, replacing what it was.
    pub fn set(&mut self, name: &str, value: &str) {
        self.pairs.retain(|(n, _)| n != name);
        self.pairs.push((name.to_owned(), value.to_owned()));
    }

    pub fn require(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(ward_core::Description::naming("missing parameter", name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_absent_and_repeats_are_refused() {
        let p = FormParams::parse(b"grant_type=client_credentials&scope=&x=a+b%21").unwrap();
        assert_eq!(p.get("grant_type"), Some("client_credentials"));
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("x"), Some("a b!"));
        assert!(p.require("scope").is_err());
        let err = FormParams::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(err.error, ward_core::OAuthErrorCode::InvalidRequest);
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
        assert!(FormParams::parse(many.join("&").as_bytes()).is_err());
    }
}
