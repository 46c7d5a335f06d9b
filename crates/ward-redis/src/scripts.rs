//! Lua scripts (EVAL) may name keys in their text, where the gate cannot prefix them: a script
//! that calls `redis.call('GET', 'u:bob:secret')` would read another identity's key. The gate
//! reads the script and serves it only when every key it can see a call name comes from
//! `KEYS[…]`, the declared (and prefixed) keys; a key built on a declared one
//! (`KEYS[1] .. ':n'`) stays in the namespace. Anything it cannot read that way — a key
//! from a literal, from ARGV, or from a variable; a command name that is not a literal;
//! `redis.call` passed around — is refused. This is conservative: some harmless scripts are
//! refused, and a script that hides its calls (`loadstring`, `_G`, `getfenv`) is refused too.
//!
//! EVALSHA names a script by its SHA-1, so the gate cannot read it: it is served only for a
//! script this gate has read and approved in an EVAL.

/// Why a script is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("scripts may name keys only through KEYS[...]: {0}")]
    UndeclaredKey(&'static str),
}

use crate::commands::{Access, Keys, lookup};

/// Lua names that reach the server in ways the gate cannot follow.
const HIDDEN: &[&str] = &["loadstring", "load(", "dofile", "getfenv", "setfenv", "_G", "rawget", "rawset"];

/// Checks a script's text; `Ok` when every call's key comes from `KEYS[…]`.
pub fn check(script: &[u8]) -> Result<(), ScriptError> {
    let text = String::from_utf8_lossy(script);
    let code = without_comments(&text);
    if HIDDEN.iter().any(|h| code.contains(h)) {
        return Err(ScriptError::UndeclaredKey("the script reaches the server indirectly"));
    }
    let mut rest = code.as_str();
    while let Some(at) = find_call(rest) {
        let after = &rest[at..];
        let open = after.find(['(', ' ', '\t', '\n']).map_or(after.len(), |i| i);
        let after = after[open..].trim_start();
        let Some(arguments) = after.strip_prefix('(') else {
            // `local call = redis.call`: the function escapes the gate's reading.
            return Err(ScriptError::UndeclaredKey("redis.call is used other than by calling it"));
        };
        let arguments = split_arguments(arguments);
        let Some(command) = arguments.first() else {
            return Err(ScriptError::UndeclaredKey("a call without a command"));
        };
        let Some(command) = string_literal(command) else {
            return Err(ScriptError::UndeclaredKey("a command name that is not a literal"));
        };
        let Some(spec) = lookup(command.as_bytes()).filter(|s| s.access != Access::Admin) else {
            return Err(ScriptError::UndeclaredKey("a command the gate does not serve"));
        };
        match spec.keys {
            Keys::None => {}
            Keys::Range { first, last, step } => {
                // `arguments` counts the command name first, as Redis's argument positions do.
                let n = arguments.len() as isize;
                let last = if last < 0 { n + last } else { last };
                if last < first as isize || last >= n {
                    return Err(ScriptError::UndeclaredKey("a call whose keys cannot be located"));
                }
                let declared = (first..=last as usize).step_by(step.max(1)).all(|i| arguments[i].starts_with("KEYS["));
                if !declared {
                    return Err(ScriptError::UndeclaredKey("a key that does not come from KEYS[...]"));
                }
            }
            _ => return Err(ScriptError::UndeclaredKey("a command whose keys the gate cannot follow in a script")),
        }
        continue_after(&mut rest, at);
    }
    Ok(())
}

fn continue_after(rest: &mut &str, at: usize) {
    *rest = &rest[at + 1..];
}

/// Where the next `redis.call`, `redis.pcall`, `server.call` or `server.pcall` is.
fn find_call(code: &str) -> Option<usize> {
    ["redis.call", "redis.pcall", "server.call", "server.pcall"].iter().filter_map(|c| code.find(c)).min()
}

/// The script with `--` comments removed (a comment could hide nothing, but could make a call
/// look like something else).
fn without_comments(text: &str) -> String {
    text.lines().map(|line| line.split("--").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// Top-level arguments of a call, up to its closing parenthesis.
fn split_arguments(text: &str) -> Vec<&str> {
    let mut arguments = Vec::new();
    let (mut depth, mut start, mut quote) = (0usize, 0usize, None::<char>);
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '{' | '[') => depth += 1,
            (None, ')' | '}' | ']') if depth > 0 => depth -= 1,
            (None, ')') => {
                arguments.push(text[start..i].trim());
                return arguments;
            }
            (None, ',') if depth == 0 => {
                arguments.push(text[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    arguments.push(text[start..].trim());
    arguments
}

/// The content of a Lua string literal, if `text` is one.
fn string_literal(text: &str) -> Option<&str> {
    let text = text.trim();
    ['\'', '"'].iter().find_map(|q| text.strip_prefix(*q)?.strip_suffix(*q))
}

/// Scripts this gate has read and approved, by SHA-1: what EVALSHA may run. Bounded; when
/// full it starts over (an EVALSHA of a forgotten script is refused until the client sends
/// the script again with EVAL, as clients do after a `NOSCRIPT`).
#[derive(Debug, Default)]
pub struct ApprovedScripts {
    shas: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// At most this many approved scripts are remembered.
const MAX_APPROVED: usize = 10_000;

impl ApprovedScripts {
    /// Checks `script` and, if it passes, remembers it for EVALSHA.
    pub fn approve(&self, script: &[u8]) -> Result<(), ScriptError> {
        check(script)?;
        let mut shas = ward_core::sync::lock(&self.shas);
        if shas.len() >= MAX_APPROVED {
            shas.clear();
        }
        shas.insert(sha1_hex(script));
        Ok(())
    }

    /// Whether EVALSHA may run the script named `sha` (any case).
    pub fn is_approved(&self, sha: &[u8]) -> bool {
        std::str::from_utf8(sha).is_ok_and(|sha| ward_core::sync::lock(&self.shas).contains(&sha.to_ascii_lowercase()))
    }
}

/// SHA-1 of a script, as EVALSHA names it (lower-case hex).
pub fn sha1_hex(script: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, script);
    ward_core::hex::encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_that_name_keys_only_through_keys_are_served() {
        for script in [
            "return redis.call('GET', KEYS[1])",
            "return redis.call(\"SET\", KEYS[1], ARGV[1])",
            "local v = redis.call('INCR', KEYS[1]) redis.call('EXPIRE', KEYS[1], 60) return v",
            "return redis.pcall('HGET', KEYS[2], 'field')",
            "return redis.call('GET', KEYS[1] .. ':suffix')",
            "return redis.call('PING') -- a comment naming redis.call('GET', 'x')",
            "return redis.call('MSET', KEYS[1], ARGV[1], KEYS[2], ARGV[2])",
            "return {redis.call('TIME'), server.call('GET', KEYS[1])}",
            "return redis.call('RENAME', KEYS[1], KEYS[2])",
        ] {
            assert_eq!(check(script.as_bytes()), Ok(()), "{script}");
        }
    }

    #[test]
    fn scripts_that_could_reach_other_keys_are_refused() {
        for script in [
            "return redis.call('GET', 'u:bob:secret')",
            "return redis.call('GET', ARGV[1])",
            "local k = KEYS[1] return redis.call('GET', k)",
            "return redis.call('GET', 'u:bob:' .. KEYS[1])",
            "local c = redis.call return c('GET', 'x')",
            "local cmd = 'GET' return redis.call(cmd, KEYS[1])",
            "return redis.call('MSET', KEYS[1], 'v', other, 'w')",
            "return loadstring('return redis.call(\"GET\", \"x\")')()",
            "return _G['redis']['call']('GET', 'x')",
            "return redis.call('RENAME', KEYS[1], 'u:bob:stolen')",
            "return redis.call('EVAL', 'return 1', 0)",
            "return redis.call('FLUSHALL')",
            "return redis.call('NOSUCH', KEYS[1])",
            "return redis.call('GET')",
        ] {
            assert!(check(script.as_bytes()).is_err(), "{script}");
        }
    }

    #[test]
    fn evalsha_runs_only_scripts_the_gate_has_read() {
        // The SHA-1 Redis reports for `return 1` (SCRIPT LOAD "return 1").
        assert_eq!(sha1_hex(b"return 1"), "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        let approved = ApprovedScripts::default();
        assert!(!approved.is_approved(b"e0e1f9fabfc9d4800c877a703b823ac0578ff8db"));
        assert_eq!(approved.approve(b"return 1"), Ok(()));
        assert!(approved.is_approved(b"E0E1F9FABFC9D4800C877A703B823AC0578FF8DB"));
        assert!(approved.approve(b"return redis.call('GET', 'x')").is_err());
        assert!(!approved.is_approved(sha1_hex(b"return redis.call('GET', 'x')").as_bytes()));
    }
}
