//! Claims → named values: the settings a PostgreSQL gate makes for row-level security, and
//! `{claim}` templates such as a Redis key prefix (`u:{sub}:`).
//!
//! Names a gate reads from the verified identity rather than the raw claims: `sub`,
//! `identity` (the trust policy's identity claim), `client_id` (`client_id`, or `azp` as OIDC
//! issuers name it) and `roles` (the roles the gate mapped on). Any other name is a claim by
//! top-level name or dotted path; an absent claim is the empty string.

use std::collections::BTreeMap;

use ward_token::remote::Identity;

/// One claim's value as text; `list` renders the roles (each gate has its own list syntax).
pub fn claim_value(identity: &Identity, claim: &str, list: impl Fn(&[String]) -> String) -> String {
    match claim {
        "roles" => list(&identity.roles),
        "sub" => identity.subject.clone(),
        "identity" => identity.identity.clone(),
        "client_id" => identity.client_id.clone().unwrap_or_default(),
        other => identity.claim_text(other).unwrap_or_default(),
    }
}

/// `(name, value)` for every `name = claim` pair, in the map's order.
pub fn values(
    names: &BTreeMap<String, String>,
    identity: &Identity,
    list: impl Fn(&[String]) -> String,
) -> Vec<(String, String)> {
    names.iter().map(|(name, claim)| (name.clone(), claim_value(identity, claim, &list))).collect()
}

/// Roles as a comma-separated list: what a template renders for `{roles}`.
pub fn comma_list(items: &[String]) -> String {
    items.join(",")
}

/// Text with `{claim}` placeholders, parsed once; `{{` and `}}` are literal braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimTemplate {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Claim(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template {0:?}: a `{{` is never closed")]
    Unclosed(String),
    #[error("template {0:?}: a `}}` closes nothing (write `}}}}` for a literal brace)")]
    StrayClose(String),
    #[error("template {0:?}: `{{}}` names no claim")]
    EmptyClaim(String),
}

impl ClaimTemplate {
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '}' => return Err(TemplateError::StrayClose(template.to_owned())),
                '{' => {
                    let mut claim = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => claim.push(c),
                            None => return Err(TemplateError::Unclosed(template.to_owned())),
                        }
                    }
                    if claim.trim().is_empty() {
                        return Err(TemplateError::EmptyClaim(template.to_owned()));
                    }
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Claim(claim.trim().to_owned()));
                }
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        Ok(Self { parts })
    }

    /// The claims the template reads, in order.
    pub fn claims(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Claim(c) => Some(c.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The template with each placeholder replaced by the caller's claim.
    pub fn render(&self, identity: &Identity) -> String {
        self.render_escaped(identity, &[])
    }

    /// The template with each placeholder replaced by the caller's claim, with `%` and every
    /// character of `reserved` in the claim percent-encoded: when `reserved` holds the
    /// template's separators, two different claim values can never render alike (with
    /// `u:{sub}:`, the subjects `alice` and `alice:x` would otherwise share keys).
    pub fn render_escaped(&self, identity: &Identity, reserved: &[char]) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Claim(claim) => {
                    for c in claim_value(identity, claim, comma_list).chars() {
                        if c == '%' || c.is_control() || reserved.contains(&c) {
                            let mut utf8 = [0u8; 4];
                            for b in c.encode_utf8(&mut utf8).bytes() {
                                out.push_str(&format!("%{b:02X}"));
                            }
                        } else {
                            out.push(c);
                        }
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn alice() -> Identity {
        let claims = json!({"sub": "alice", "tenant": "acme", "org": {"id": 7}, "groups": ["a", "b"]});
        Identity {
            issuer: "https://id.example".into(),
            subject: "alice".into(),
            identity: "alice@example.com".into(),
            roles: vec!["reader".into(), "x,admin".into()],
            scopes: vec![],
            client_id: Some("app".into()),
            jti: None,
            expires_at: 0,
            claims: claims.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn values_come_from_the_verified_identity_then_the_claims() {
        let names: BTreeMap<String, String> =
            [("a.user", "sub"), ("a.who", "identity"), ("a.client", "client_id"), ("a.org", "org.id"), ("a.x", "nope")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let got = values(&names, &alice(), comma_list);
        let got: BTreeMap<_, _> = got.into_iter().collect();
        assert_eq!(got["a.user"], "alice");
        assert_eq!(got["a.who"], "alice@example.com");
        assert_eq!(got["a.client"], "app");
        assert_eq!(got["a.org"], "7");
        assert_eq!(got["a.x"], "", "an absent claim is empty, never an error");
        assert_eq!(claim_value(&alice(), "roles", |r| format!("<{}>", r.len())), "<2>");
    }

    #[test]
    fn templates_render_claims_and_literal_braces() {
        let prefix = ClaimTemplate::parse("u:{sub}:").expect("valid");
        assert_eq!(prefix.render(&alice()), "u:alice:");
        assert_eq!(prefix.claims().collect::<Vec<_>>(), ["sub"]);
        let tagged = ClaimTemplate::parse("{{{ tenant }}}:{sub}:{groups}").expect("valid");
        assert_eq!(tagged.render(&alice()), "{acme}:alice:a,b");
        assert_eq!(ClaimTemplate::parse("static").expect("valid").render(&alice()), "static");
    }

    #[test]
    fn escaped_claims_keep_namespaces_apart() {
        let template = ClaimTemplate::parse("u:{sub}:").expect("valid");
        let with_sub = |sub: &str| Identity { subject: sub.into(), ..alice() };
        let reserved = [':', '{', '}'];
        let plain = template.render_escaped(&with_sub("alice"), &reserved);
        let tricky = template.render_escaped(&with_sub("alice:x"), &reserved);
        assert_eq!((plain.as_str(), tricky.as_str()), ("u:alice:", "u:alice%3Ax:"));
        assert!(!tricky.starts_with(&plain), "no namespace lies inside another");
        assert_eq!(template.render_escaped(&with_sub("100%"), &reserved), "u:100%25:");
        assert_eq!(template.render_escaped(&with_sub("a\nb"), &reserved), "u:a%0Ab:");
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(matches!(ClaimTemplate::parse("u:{sub"), Err(TemplateError::Unclosed(_))));
        assert!(matches!(ClaimTemplate::parse("u:}"), Err(TemplateError::StrayClose(_))));
        assert!(matches!(ClaimTemplate::parse("u:{ }:"), Err(TemplateError::EmptyClaim(_))));
    }
}
