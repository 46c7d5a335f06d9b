//! Scopes as RFC 6749 §3.3 defines them: space-delimited, case-sensitive tokens of
//! printable ASCII without `"` or `\`.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest scope token accepted; far above any real scope, small enough to bound memory.
pub const MAX_SCOPE_LEN: usize = 128;

/// One scope token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {0:?}: a scope is 1-128 printable ASCII characters without space, '\"' or '\\'")]
pub struct InvalidScope(pub String);

impl Scope {
    pub fn parse(s: &str) -> Result<Self, InvalidScope> {
        // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = !s.is_empty()
            && s.len() <= MAX_SCOPE_LEN
            && s.bytes().all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b));
        if valid { Ok(Self(s.to_owned())) } else { Err(InvalidScope(s.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A set of scopes, ordered so that its string form is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a space-delimited scope string. Runs of spaces are tolerated, as clients send them.
    pub fn parse(s: &str) -> Result<Self, InvalidScope> {
        s.split(' ').filter(|t| !t.is_empty()).map(Scope::parse).collect::<Result<_, _>>().map(Self)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Whether the set holds the scope named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|s| s.0 == name)
    }

    /// Every scope of `self` and of `other`.
    pub fn union(&self, other: &ScopeSet) -> ScopeSet {
        Self(self.0.union(&other.0).cloned().collect())
    }

    pub fn insert(&mut self, scope: Scope) {
        self.0.insert(scope);
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    pub fn is_subset(&self, other: &ScopeSet) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The scopes of `self` that `allowed` does not hold.
    pub fn not_in<'a>(&'a self, allowed: &'a ScopeSet) -> impl Iterator<Item = &'a Scope> {
        self.0.difference(&allowed.0)
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for scope in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for ScopeSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ScopeSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ScopeSet::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let set = ScopeSet::parse("write  read read").unwrap();
        assert_eq!(set.to_string(), "read write");
        assert_eq!(set.len(), 2);
        assert!(ScopeSet::parse("").unwrap().is_empty());
    }

    #[test]
    fn refuses_forbidden_characters() {
        for bad in ["a\"b", "a\\b", "caf\u{e9}", "tab\there", &"x".repeat(MAX_SCOPE_LEN + 1)] {
            assert!(ScopeSet::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Scope::parse("db:read/rows!").is_ok());
    }

    #[test]
    fn subset_and_difference() {
        let allowed = ScopeSet::parse("a b c").unwrap();
        let asked = ScopeSet::parse("a d").unwrap();
        assert!(!asked.is_subset(&allowed));
        let extra: Vec<_> = asked.not_in(&allowed).map(Scope::as_str).collect();
        assert_eq!(extra, ["d"]);
    }
}
