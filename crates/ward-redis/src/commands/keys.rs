//! Where a parsed command's keys are: the argument positions the gate prefixes. Whatever
//! cannot be located exactly is refused rather than guessed: a key left unprefixed would be
//! another identity's.

use super::table::{Keys, Spec};
use crate::protocol::Args;

/// Why a command's keys could not be located.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Too few arguments for the command's key positions (Redis would refuse it too).
    #[error("wrong number of arguments")]
    Arity,
    /// A key count that is not a number, or names more keys than there are arguments.
    #[error("the number of keys is not a valid count for the arguments given")]
    Count,
    /// The command names keys in a way the gate cannot confine to the caller's namespace.
    #[error("{0}")]
    Unconfinable(&'static str),
}

/// Fills `out` with the positions of `args`'s keys (or channels), in argument order.
pub fn locate(spec: &Spec, args: &Args, buf: &[u8], out: &mut Vec<usize>) -> Result<(), KeyError> {
    out.clear();
    let n = args.len();
    let arg = |i: usize| args.get(buf, i).unwrap_or_default();
    match spec.keys {
        Keys::None => {}
        Keys::Range { first, last, step } => range(n, first, last, step, out)?,
        Keys::Counted { fixed, count_at } => {
            for &at in fixed {
                if at >= n {
                    return Err(KeyError::Arity);
                }
                out.push(at);
            }
            let count = std::str::from_utf8(args.get(buf, count_at).ok_or(KeyError::Arity)?)
                .ok()
                .and_then(|c| c.parse::<usize>().ok())
                .ok_or(KeyError::Count)?;
            let first = count_at + 1;
            if count > n.saturating_sub(first) {
                return Err(KeyError::Count);
            }
            out.extend(first..first + count);
        }
        Keys::Streams => streams(spec, n, arg, out)?,
        Keys::WithOptions { first, options_from, options } => {
            if first >= n {
                return Err(KeyError::Arity);
            }
            out.push(first);
            let mut i = options_from;
            while i < n {
                if options.iter().any(|o| arg(i).eq_ignore_ascii_case(o.as_bytes())) {
                    if i + 1 >= n {
                        return Err(KeyError::Arity);
                    }
                    out.push(i + 1);
                    i += 1;
                }
                i += 1;
            }
        }
        Keys::Copy => {
            range(n, 1, 2, 1, out)?;
            if (3..n).any(|i| arg(i).eq_ignore_ascii_case(b"DB")) {
                return Err(KeyError::Unconfinable("COPY … DB writes to another database"));
            }
        }
        Keys::Subcommand { with_key } => {
            let sub = args.get(buf, 1).ok_or(KeyError::Arity)?;
            if with_key.iter().any(|s| sub.eq_ignore_ascii_case(s.as_bytes())) {
                if n < 3 {
                    return Err(KeyError::Arity);
                }
                out.push(2);
            }
        }
        Keys::Channels { last, may_be_empty, .. } => {
            if n > 1 || !may_be_empty {
                range(n, 1, last, 1, out)?;
            }
        }
        Keys::Sort => sort(n, arg, out)?,
        Keys::Unsafe => {
            return Err(KeyError::Unconfinable("this command's keys cannot be confined to your namespace"));
        }
    }
    Ok(())
}

fn range(n: usize, first: usize, last: isize, step: usize, out: &mut Vec<usize>) -> Result<(), KeyError> {
    let last = if last < 0 { n as isize + last } else { last };
    if last < first as isize || last as usize >= n {
        return Err(KeyError::Arity);
    }
    out.extend((first..=last as usize).step_by(step.max(1)));
    Ok(())
}

/// XREAD [COUNT n] [BLOCK ms] STREAMS key… id…; XREADGROUP GROUP g c [COUNT n] [BLOCK ms]
/// [NOACK] STREAMS key… id…: options read in order, as Redis reads them, so a group or
/// consumer named `streams` is not taken for the keyword.
fn streams<'a>(spec: &Spec, n: usize, arg: impl Fn(usize) -> &'a [u8], out: &mut Vec<usize>) -> Result<(), KeyError> {
    let mut i = 1;
    let group = spec.name == "XREADGROUP";
    if group {
        if n < 4 || !arg(1).eq_ignore_ascii_case(b"GROUP") {
            return Err(KeyError::Arity);
        }
        i = 4;
    }
    while i < n {
        let option = arg(i);
        if option.eq_ignore_ascii_case(b"STREAMS") {
            let rest = n - i - 1;
            if rest == 0 || !rest.is_multiple_of(2) {
                return Err(KeyError::Arity);
            }
            out.extend(i + 1..i + 1 + rest / 2);
            return Ok(());
        }
        let takes_value = option.eq_ignore_ascii_case(b"COUNT") || option.eq_ignore_ascii_case(b"BLOCK");
        if takes_value {
            i += 2;
        } else if group && option.eq_ignore_ascii_case(b"NOACK") {
            i += 1;
        } else {
            return Err(KeyError::Arity);
        }
    }
    Err(KeyError::Arity)
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA] [STORE dest]:
/// `BY` and `GET` patterns with `*` read other keys, so they are refused; `BY` without one
/// only turns sorting off, and `GET #` is the element itself.
fn sort<'a>(n: usize, arg: impl Fn(usize) -> &'a [u8], out: &mut Vec<usize>) -> Result<(), KeyError> {
    if n < 2 {
        return Err(KeyError::Arity);
    }
    out.push(1);
    let mut i = 2;
    while i < n {
        let option = arg(i);
        let value = |k: usize| if i + k < n { Ok(arg(i + k)) } else { Err(KeyError::Arity) };
        if option.eq_ignore_ascii_case(b"BY") {
            if value(1)?.contains(&b'*') {
                return Err(KeyError::Unconfinable("SORT … BY reads other keys by pattern"));
            }
            i += 2;
        } else if option.eq_ignore_ascii_case(b"GET") {
            if value(1)? != b"#" {
                return Err(KeyError::Unconfinable("SORT … GET reads other keys by pattern"));
            }
            i += 2;
        } else if option.eq_ignore_ascii_case(b"LIMIT") {
            value(2)?;
            i += 3;
        } else if option.eq_ignore_ascii_case(b"STORE") {
            value(1)?;
            out.push(i + 1);
            i += 2;
        } else {
            // ASC, DESC, ALPHA, or something Redis itself will refuse.
            i += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::table::{Access, COMMANDS, lookup};
    use crate::protocol::{Limits, parse_command};

    /// The key positions of an inline command, or why there are none.
    fn keys(line: &str) -> Result<Vec<usize>, KeyError> {
        let input = format!("{line}\r\n");
        let mut args = Args::default();
        parse_command(input.as_bytes(), &Limits::CLIENT, &mut args).ok();
        let spec = lookup(args.get(input.as_bytes(), 0).unwrap_or_default()).ok_or(KeyError::Arity)?;
        let mut out = Vec::new();
        locate(spec, &args, input.as_bytes(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn the_table_is_sorted_unique_and_upper_case() {
        for pair in COMMANDS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} before {}", pair[0].name, pair[1].name);
        }
        for spec in COMMANDS {
            assert_eq!(spec.name, spec.name.to_ascii_uppercase());
            assert_eq!(lookup(spec.name.to_ascii_lowercase().as_bytes()), Some(spec));
        }
        assert_eq!(lookup(b"NOSUCHCOMMAND"), None);
        assert_eq!(lookup(&[b'A'; 100]), None);
    }

    #[test]
    fn administrative_commands_are_never_served() {
        for name in [
            "FLUSHALL",
            "FLUSHDB",
            "CONFIG",
            "DEBUG",
            "SHUTDOWN",
            "MONITOR",
            "CLIENT",
            "SCRIPT",
            "REPLICAOF",
            "SLAVEOF",
            "MODULE",
            "ACL",
            "SAVE",
            "BGSAVE",
            "BGREWRITEAOF",
            "SWAPDB",
            "CLUSTER",
            "SYNC",
            "PSYNC",
            "FUNCTION",
            "INFO",
            "DBSIZE",
            "SELECT",
            "MOVE",
            "LATENCY",
            "SLOWLOG",
            "MEMORY",
            "FAILOVER",
        ] {
            assert_eq!(lookup(name.as_bytes()).map(|s| s.access), Some(Access::Admin), "{name}");
        }
    }

    #[test]
    fn keys_are_found_where_redis_puts_them() {
        assert_eq!(keys("GET k"), Ok(vec![1]));
        assert_eq!(keys("SET k v EX 10"), Ok(vec![1]));
        assert_eq!(keys("MSET a 1 b 2"), Ok(vec![1, 3]));
        assert_eq!(keys("DEL a b c"), Ok(vec![1, 2, 3]));
        assert_eq!(keys("RENAME a b"), Ok(vec![1, 2]));
        assert_eq!(keys("SMOVE src dst member"), Ok(vec![1, 2]));
        assert_eq!(keys("LMOVE src dst LEFT RIGHT"), Ok(vec![1, 2]));
        assert_eq!(keys("BLPOP a b 0"), Ok(vec![1, 2]));
        assert_eq!(keys("BITOP AND dest a b"), Ok(vec![2, 3, 4]));
        assert_eq!(keys("EVAL script 2 a b arg"), Ok(vec![3, 4]));
        assert_eq!(keys("EVAL script 0 arg"), Ok(vec![]));
        assert_eq!(keys("ZUNIONSTORE dest 2 a b WEIGHTS 1 2"), Ok(vec![1, 3, 4]));
        assert_eq!(keys("ZUNION 2 a b"), Ok(vec![2, 3]));
        assert_eq!(keys("BLMPOP 0 2 a b LEFT"), Ok(vec![3, 4]));
        assert_eq!(keys("LMPOP 1 a LEFT"), Ok(vec![2]));
        assert_eq!(keys("XREAD COUNT 2 BLOCK 0 STREAMS a b 0 0"), Ok(vec![6, 7]));
        assert_eq!(keys("XREADGROUP GROUP streams STREAMS NOACK STREAMS a >"), Ok(vec![6]));
        assert_eq!(keys("GEORADIUS k 0 0 1 km STORE dest"), Ok(vec![1, 7]));
        assert_eq!(keys("GEORADIUSBYMEMBER k store 1 km STOREDIST d"), Ok(vec![1, 6]), "a member named store");
        assert_eq!(keys("COPY a b REPLACE"), Ok(vec![1, 2]));
        assert_eq!(keys("OBJECT ENCODING k"), Ok(vec![2]));
        assert_eq!(keys("OBJECT HELP"), Ok(vec![]));
        assert_eq!(keys("XINFO STREAM k"), Ok(vec![2]));
        assert_eq!(keys("XGROUP CREATE k g $"), Ok(vec![2]));
        assert_eq!(keys("SORT k LIMIT 0 10 ALPHA STORE dest"), Ok(vec![1, 7]));
        assert_eq!(keys("SORT k BY nosort GET #"), Ok(vec![1]));
        assert_eq!(keys("SUBSCRIBE a b"), Ok(vec![1, 2]));
        assert_eq!(keys("PUBLISH ch message"), Ok(vec![1]));
        assert_eq!(keys("UNSUBSCRIBE"), Ok(vec![]));
        assert_eq!(keys("WATCH a b"), Ok(vec![1, 2]));
    }

    #[test]
    fn what_cannot_be_confined_is_refused() {
        assert!(matches!(keys("SORT k BY weight_*"), Err(KeyError::Unconfinable(_))));
        assert!(matches!(keys("SORT k GET data_*"), Err(KeyError::Unconfinable(_))));
        assert!(matches!(keys("COPY a b DB 1"), Err(KeyError::Unconfinable(_))));
        assert!(matches!(keys("MIGRATE host 6379 \"\" 0 1000 KEYS a b"), Err(KeyError::Unconfinable(_))));
    }

    #[test]
    fn counts_and_arities_that_do_not_fit_are_refused() {
        assert_eq!(keys("GET"), Err(KeyError::Arity));
        assert_eq!(keys("DEL"), Err(KeyError::Arity));
        assert_eq!(keys("RENAME a"), Err(KeyError::Arity));
        assert_eq!(keys("EVAL script 3 a b"), Err(KeyError::Count), "more keys than arguments");
        assert_eq!(keys("EVAL script -1 a"), Err(KeyError::Count));
        assert_eq!(keys("EVAL script two a"), Err(KeyError::Count));
        assert_eq!(keys("ZUNIONSTORE dest"), Err(KeyError::Arity));
        assert_eq!(keys("XREAD STREAMS a b c"), Err(KeyError::Arity), "keys and ids must pair up");
        assert_eq!(keys("XREAD COUNT 1 a 0"), Err(KeyError::Arity), "no STREAMS");
        assert_eq!(keys("XREADGROUP STREAMS a 0"), Err(KeyError::Arity), "no GROUP");
        assert_eq!(keys("GEORADIUS k 0 0 1 km STORE"), Err(KeyError::Arity));
        assert_eq!(keys("SUBSCRIBE"), Err(KeyError::Arity));
        assert_eq!(keys("SORT k STORE"), Err(KeyError::Arity));
    }

    #[test]
    fn every_command_with_keys_locates_them_within_its_arguments() {
        // A generous command line for each: whatever is found must be a real argument index.
        for spec in COMMANDS {
            let line = format!("{} a b c d e f g h i j 2 k l STREAMS m n", spec.name);
            let input = format!("{line}\r\n");
            let mut args = Args::default();
            parse_command(input.as_bytes(), &Limits::CLIENT, &mut args).ok();
            let mut out = Vec::new();
            if locate(spec, &args, input.as_bytes(), &mut out).is_ok() {
                assert!(out.iter().all(|&i| i > 0 && i < args.len()), "{}: {out:?}", spec.name);
            }
        }
    }
}
