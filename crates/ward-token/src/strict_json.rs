//! JSON objects with one value per name. RFC 7515 §5.2 and RFC 7519 §4 ask a JWT consumer to
//! reject duplicate member names or use only the last; serde_json silently takes the last,
//! so a token reading `"sub":"alice", …, "sub":"admin"` would mean different things to
//! different parsers. Ward refuses them.

use std::collections::HashSet;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Whether `json` is well-formed JSON in which no object repeats a member name, at any depth.
pub fn has_unique_names(json: &[u8]) -> bool {
    let mut de = serde_json::Deserializer::from_slice(json);
    Unique.deserialize(&mut de).is_ok() && de.end().is_ok()
}

#[derive(Clone, Copy)]
struct Unique;

impl<'de> DeserializeSeed<'de> for Unique {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Unique {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON without repeated member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if !seen.insert(name.into_owned()) {
                return Err(de::Error::custom("repeated member name"));
            }
            map.next_value_seed(Unique)?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Unique)?.is_some() {}
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_are_found_at_any_depth() {
        assert!(has_unique_names(br#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#));
        assert!(!has_unique_names(br#"{"sub":"alice","x":1,"sub":"admin"}"#));
        assert!(!has_unique_names(br#"{"a":{"r":1,"r":2}}"#));
        assert!(!has_unique_names(br#"{"a":[{"r":1,"r":2}]}"#));
        // An escaped name is the same name.
        assert!(!has_unique_names(br#"{"sub":"a","s\u0075b":"b"}"#));
        assert!(!has_unique_names(b"{\"a\":1} trailing"));
        assert!(!has_unique_names(b"{\"a\":"));
    }
}
