//! Guesses about what SQL text does to a session, on the transaction pooling hot path. Only
//! same-identity sharing rests on them: a backend passing to another identity always gets a
//! full reset, whatever the text looked like.

/// Whether SQL text may change session state that must not reach the next client. Errs on
/// the side of yes: a false alarm only costs a reset.
pub fn may_change_session(sql: &[u8]) -> bool {
    // One pass, dispatching on the first letter: this runs on every query in transaction
    // pooling, so it must cost little for the common statement that matches nothing.
    (0..sql.len()).any(|i| {
        let rest = &sql[i..];
        let markers: &[&[u8]] = match sql[i] | 0x20 {
            b's' => &[b"set ", b"set\t", b"set\n", b"set_config"],
            b'r' => &[b"reset"],
            b'l' => &[b"listen", b"load"],
            b'a' => &[b"advisory"],
            b't' => &[b"temp"],
            b'd' => &[b"declare", b"discard", b"deallocate"],
            b'p' => &[b"prepare"],
            _ => return false,
        };
        markers.iter().any(|m| rest.len() >= m.len() && rest[..m.len()].eq_ignore_ascii_case(m))
    })
}

/// Whether SQL text may drop prepared statements (`DEALLOCATE`, `DISCARD`), which leaves the
/// gate's record of what a backend holds uncertain.
pub fn may_deallocate(sql: &[u8]) -> bool {
    contains_ignore_case(sql, b"deallocate") || contains_ignore_case(sql, b"discard")
}

/// ASCII case-insensitive substring search, without allocating.
pub fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_state_heuristic() {
        assert!(may_change_session(b"SET search_path TO x"));
        assert!(may_change_session(b"select set_config('a.b', 'c', false)"));
        assert!(may_change_session(b"CREATE TEMP TABLE t (i int)"));
        assert!(!may_change_session(b"SELECT abalance FROM pgbench_accounts WHERE aid = $1"));
        assert!(may_deallocate(b"DEALLOCATE ALL") && may_deallocate(b"discard all"));
        assert!(!may_deallocate(b"select 1"));
    }
}
