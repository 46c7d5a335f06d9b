//! Every command the gate knows: what it may do (for scopes) and where its keys are (for
//! namespaces). A command that is not here is refused, so the table is an allow-list; a
//! command whose keys cannot be located safely is here as [`Keys::Unsafe`], refused by name.
//!
//! Key positions follow Redis 7's `COMMAND INFO` (`first`, `last`, `step`, with `last`
//! counted from the end when negative) and its key specs for the commands whose keys follow
//! a count or a keyword.

/// What a command may do; scopes permit [`Access::Read`] or also [`Access::Write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Served to any authenticated client, and some before authentication (see the gate).
    Connection,
    Read,
    Write,
    /// Never served: the server's own administration, or state shared by every client.
    Admin,
}

/// Where a command's keys are among its arguments (argument 0 is the command name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keys {
    None,
    /// Arguments `first..=last` every `step`; a negative `last` counts from the end (-1 is the
    /// last argument).
    Range {
        first: usize,
        last: isize,
        step: usize,
    },
    /// Keys at the `fixed` positions, then a count at `count_at` and that many keys after it
    /// (EVAL's numkeys, ZUNIONSTORE's destination and numkeys, BLMPOP's timeout and numkeys).
    Counted {
        fixed: &'static [usize],
        count_at: usize,
    },
    /// XREAD and XREADGROUP: after `STREAMS`, the remaining arguments are keys then as many
    /// IDs.
    Streams,
    /// A key at `first`, and the argument after any of `options`, looked for from argument
    /// `options_from` on (GEORADIUS key lon lat radius unit … STORE key).
    WithOptions {
        first: usize,
        options_from: usize,
        options: &'static [&'static str],
    },
    /// COPY: source and destination; its `DB` option writes to another database, so refused.
    Copy,
    /// The key is argument 2 for the listed subcommands; any other subcommand has none.
    Subcommand {
        with_key: &'static [&'static str],
    },
    /// Channels from argument 1 to `last` (SUBSCRIBE, PUBLISH), or patterns (PSUBSCRIBE), which
    /// are confined to the namespace as KEYS patterns are. The unsubscribe commands may name
    /// none (all of this client's).
    Channels {
        patterns: bool,
        last: isize,
        may_be_empty: bool,
    },
    /// SORT: key 1, `STORE` destination; `BY` and `GET` name other keys by pattern, so refused.
    Sort,
    /// Keys that cannot be located safely (MIGRATE names them after an empty key argument,
    /// and targets another server).
    Unsafe,
}

/// One command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Upper case.
    pub name: &'static str,
    pub access: Access,
    pub keys: Keys,
    /// A command that may wait for other clients (BLPOP, XREAD BLOCK, WAIT): it holds its
    /// upstream connection while it waits.
    pub blocking: bool,
}

const fn spec(name: &'static str, access: Access, keys: Keys) -> Spec {
    Spec { name, access, keys, blocking: false }
}

const fn blocking(name: &'static str, access: Access, keys: Keys) -> Spec {
    Spec { name, access, keys, blocking: true }
}

use Access::{Admin, Connection, Read, Write};

const NONE: Keys = Keys::None;
/// The one key at argument 1.
const KEY: Keys = Keys::Range { first: 1, last: 1, step: 1 };
/// Every argument from 1 is a key.
const ALL: Keys = Keys::Range { first: 1, last: -1, step: 1 };
/// Arguments 1 and 2 are keys (source and destination).
const TWO: Keys = Keys::Range { first: 1, last: 2, step: 1 };
/// Keys from argument 1 up to the last, which is a timeout.
const ALL_BUT_TIMEOUT: Keys = Keys::Range { first: 1, last: -2, step: 1 };
/// Key-value pairs from argument 1.
const PAIRS: Keys = Keys::Range { first: 1, last: -1, step: 2 };
/// A count at 1, then the keys.
const COUNTED_AT_1: Keys = Keys::Counted { fixed: &[], count_at: 1 };
/// A count at 2, then the keys (EVAL; BLMPOP after its timeout).
const COUNTED_AT_2: Keys = Keys::Counted { fixed: &[], count_at: 2 };
/// A destination at 1, a count at 2, then the keys.
const STORE_COUNTED: Keys = Keys::Counted { fixed: &[1], count_at: 2 };

/// Sorted by name, so that lookups are a binary search (a test holds it to that).
pub static COMMANDS: &[Spec] = &[
    spec("ACL", Admin, NONE),
    spec("APPEND", Write, KEY),
    spec("AUTH", Connection, NONE),
    spec("BGREWRITEAOF", Admin, NONE),
    spec("BGSAVE", Admin, NONE),
    spec("BITCOUNT", Read, KEY),
    spec("BITFIELD", Write, KEY),
    spec("BITFIELD_RO", Read, KEY),
    spec("BITOP", Write, Keys::Range { first: 2, last: -1, step: 1 }),
    spec("BITPOS", Read, KEY),
    blocking("BLMOVE", Write, TWO),
    blocking("BLMPOP", Write, COUNTED_AT_2),
    blocking("BLPOP", Write, ALL_BUT_TIMEOUT),
    blocking("BRPOP", Write, ALL_BUT_TIMEOUT),
    blocking("BRPOPLPUSH", Write, TWO),
    blocking("BZMPOP", Write, COUNTED_AT_2),
    blocking("BZPOPMAX", Write, ALL_BUT_TIMEOUT),
    blocking("BZPOPMIN", Write, ALL_BUT_TIMEOUT),
    spec("CLIENT", Admin, NONE),
    spec("CLUSTER", Admin, NONE),
    spec("COMMAND", Connection, NONE),
    spec("CONFIG", Admin, NONE),
    spec("COPY", Write, Keys::Copy),
    spec("DBSIZE", Admin, NONE),
    spec("DEBUG", Admin, NONE),
    spec("DECR", Write, KEY),
    spec("DECRBY", Write, KEY),
    spec("DEL", Write, ALL),
    spec("DISCARD", Connection, NONE),
    spec("DUMP", Read, KEY),
    spec("ECHO", Connection, NONE),
    spec("EVAL", Write, COUNTED_AT_2),
    spec("EVALSHA", Write, COUNTED_AT_2),
    spec("EVALSHA_RO", Read, COUNTED_AT_2),
    spec("EVAL_RO", Read, COUNTED_AT_2),
    spec("EXEC", Connection, NONE),
    spec("EXISTS", Read, ALL),
    spec("EXPIRE", Write, KEY),
    spec("EXPIREAT", Write, KEY),
    spec("EXPIRETIME", Read, KEY),
    spec("FAILOVER", Admin, NONE),
    spec("FCALL", Write, COUNTED_AT_2),
    spec("FCALL_RO", Read, COUNTED_AT_2),
    spec("FLUSHALL", Admin, NONE),
    spec("FLUSHDB", Admin, NONE),
    spec("FUNCTION", Admin, NONE),
    spec("GEOADD", Write, KEY),
    spec("GEODIST", Read, KEY),
    spec("GEOHASH", Read, KEY),
    spec("GEOPOS", Read, KEY),
    spec("GEORADIUS", Write, Keys::WithOptions { first: 1, options_from: 6, options: &["STORE", "STOREDIST"] }),
    spec("GEORADIUSBYMEMBER", Write, Keys::WithOptions { first: 1, options_from: 5, options: &["STORE", "STOREDIST"] }),
    spec("GEORADIUSBYMEMBER_RO", Read, KEY),
    spec("GEORADIUS_RO", Read, KEY),
    spec("GEOSEARCH", Read, KEY),
    spec("GEOSEARCHSTORE", Write, TWO),
    spec("GET", Read, KEY),
    spec("GETBIT", Read, KEY),
    spec("GETDEL", Write, KEY),
    spec("GETEX", Write, KEY),
    spec("GETRANGE", Read, KEY),
    spec("GETSET", Write, KEY),
    spec("HDEL", Write, KEY),
    spec("HELLO", Connection, NONE),
    spec("HEXISTS", Read, KEY),
    spec("HGET", Read, KEY),
    spec("HGETALL", Read, KEY),
    spec("HINCRBY", Write, KEY),
    spec("HINCRBYFLOAT", Write, KEY),
    spec("HKEYS", Read, KEY),
    spec("HLEN", Read, KEY),
    spec("HMGET", Read, KEY),
    spec("HMSET", Write, KEY),
    spec("HRANDFIELD", Read, KEY),
    spec("HSCAN", Read, KEY),
    spec("HSET", Write, KEY),
    spec("HSETNX", Write, KEY),
    spec("HSTRLEN", Read, KEY),
    spec("HVALS", Read, KEY),
    spec("INCR", Write, KEY),
    spec("INCRBY", Write, KEY),
    spec("INCRBYFLOAT", Write, KEY),
    spec("INFO", Admin, NONE),
    spec("KEYS", Read, NONE),
    spec("LASTSAVE", Admin, NONE),
    spec("LATENCY", Admin, NONE),
    spec("LCS", Read, TWO),
    spec("LINDEX", Read, KEY),
    spec("LINSERT", Write, KEY),
    spec("LLEN", Read, KEY),
    spec("LMOVE", Write, TWO),
    spec("LMPOP", Write, COUNTED_AT_1),
    spec("LOLWUT", Admin, NONE),
    spec("LPOP", Write, KEY),
    spec("LPOS", Read, KEY),
    spec("LPUSH", Write, KEY),
    spec("LPUSHX", Write, KEY),
    spec("LRANGE", Read, KEY),
    spec("LREM", Write, KEY),
    spec("LSET", Write, KEY),
    spec("LTRIM", Write, KEY),
    spec("MEMORY", Admin, NONE),
    spec("MGET", Read, ALL),
    spec("MIGRATE", Write, Keys::Unsafe),
    spec("MODULE", Admin, NONE),
    spec("MONITOR", Admin, NONE),
    // Moves a key to another database: out of what the gate's connection serves.
    spec("MOVE", Admin, NONE),
    spec("MSET", Write, PAIRS),
    spec("MSETNX", Write, PAIRS),
    spec("MULTI", Connection, NONE),
    spec("OBJECT", Read, Keys::Subcommand { with_key: &["ENCODING", "FREQ", "IDLETIME", "REFCOUNT"] }),
    spec("PERSIST", Write, KEY),
    spec("PEXPIRE", Write, KEY),
    spec("PEXPIREAT", Write, KEY),
    spec("PEXPIRETIME", Read, KEY),
    spec("PFADD", Write, KEY),
    spec("PFCOUNT", Read, ALL),
    spec("PFDEBUG", Admin, NONE),
    spec("PFMERGE", Write, ALL),
    spec("PFSELFTEST", Admin, NONE),
    spec("PING", Connection, NONE),
    spec("PSETEX", Write, KEY),
    spec("PSUBSCRIBE", Read, Keys::Channels { patterns: true, last: -1, may_be_empty: false }),
    spec("PSYNC", Admin, NONE),
    spec("PTTL", Read, KEY),
    spec("PUBLISH", Write, Keys::Channels { patterns: false, last: 1, may_be_empty: false }),
    spec("PUBSUB", Admin, NONE),
    spec("PUNSUBSCRIBE", Read, Keys::Channels { patterns: true, last: -1, may_be_empty: true }),
    spec("QUIT", Connection, NONE),
    spec("RANDOMKEY", Read, NONE),
    spec("READONLY", Admin, NONE),
    spec("READWRITE", Admin, NONE),
    spec("RENAME", Write, TWO),
    spec("RENAMENX", Write, TWO),
    spec("REPLICAOF", Admin, NONE),
    spec("RESET", Connection, NONE),
    spec("RESTORE", Write, KEY),
    spec("ROLE", Admin, NONE),
    spec("RPOP", Write, KEY),
    spec("RPOPLPUSH", Write, TWO),
    spec("RPUSH", Write, KEY),
    spec("RPUSHX", Write, KEY),
    spec("SADD", Write, KEY),
    spec("SAVE", Admin, NONE),
    spec("SCAN", Read, NONE),
    spec("SCARD", Read, KEY),
    spec("SCRIPT", Admin, NONE),
    spec("SDIFF", Read, ALL),
    spec("SDIFFSTORE", Write, ALL),
    // A connection serves one database; another one is another keyspace.
    spec("SELECT", Admin, NONE),
    spec("SET", Write, KEY),
    spec("SETBIT", Write, KEY),
    spec("SETEX", Write, KEY),
    spec("SETNX", Write, KEY),
    spec("SETRANGE", Write, KEY),
    spec("SHUTDOWN", Admin, NONE),
    spec("SINTER", Read, ALL),
    spec("SINTERCARD", Read, COUNTED_AT_1),
    spec("SINTERSTORE", Write, ALL),
    spec("SISMEMBER", Read, KEY),
    spec("SLAVEOF", Admin, NONE),
    spec("SLOWLOG", Admin, NONE),
    spec("SMEMBERS", Read, KEY),
    spec("SMISMEMBER", Read, KEY),
    spec("SMOVE", Write, TWO),
    spec("SORT", Write, Keys::Sort),
    spec("SORT_RO", Read, Keys::Sort),
    spec("SPOP", Write, KEY),
    spec("SPUBLISH", Write, Keys::Channels { patterns: false, last: 1, may_be_empty: false }),
    spec("SRANDMEMBER", Read, KEY),
    spec("SREM", Write, KEY),
    spec("SSCAN", Read, KEY),
    spec("SSUBSCRIBE", Read, Keys::Channels { patterns: false, last: -1, may_be_empty: false }),
    spec("STRLEN", Read, KEY),
    spec("SUBSCRIBE", Read, Keys::Channels { patterns: false, last: -1, may_be_empty: false }),
    spec("SUBSTR", Read, KEY),
    spec("SUNION", Read, ALL),
    spec("SUNIONSTORE", Write, ALL),
    spec("SUNSUBSCRIBE", Read, Keys::Channels { patterns: false, last: -1, may_be_empty: true }),
    spec("SWAPDB", Admin, NONE),
    spec("SYNC", Admin, NONE),
    spec("TIME", Connection, NONE),
    spec("TOUCH", Read, ALL),
    spec("TTL", Read, KEY),
    spec("TYPE", Read, KEY),
    spec("UNLINK", Write, ALL),
    spec("UNSUBSCRIBE", Read, Keys::Channels { patterns: false, last: -1, may_be_empty: true }),
    spec("UNWATCH", Connection, NONE),
    // Waits for replicas, holding the connection: the gate's clients share upstreams.
    spec("WAIT", Admin, NONE),
    spec("WAITAOF", Admin, NONE),
    spec("WATCH", Read, ALL),
    spec("XACK", Write, KEY),
    spec("XADD", Write, KEY),
    spec("XAUTOCLAIM", Write, KEY),
    spec("XCLAIM", Write, KEY),
    spec("XDEL", Write, KEY),
    spec(
        "XGROUP",
        Write,
        Keys::Subcommand { with_key: &["CREATE", "CREATECONSUMER", "DELCONSUMER", "DESTROY", "SETID"] },
    ),
    spec("XINFO", Read, Keys::Subcommand { with_key: &["CONSUMERS", "GROUPS", "STREAM"] }),
    spec("XLEN", Read, KEY),
    spec("XPENDING", Read, KEY),
    spec("XRANGE", Read, KEY),
    blocking("XREAD", Read, Keys::Streams),
    blocking("XREADGROUP", Write, Keys::Streams),
    spec("XREVRANGE", Read, KEY),
    spec("XSETID", Write, KEY),
    spec("XTRIM", Write, KEY),
    spec("ZADD", Write, KEY),
    spec("ZCARD", Read, KEY),
    spec("ZCOUNT", Read, KEY),
    spec("ZDIFF", Read, COUNTED_AT_1),
    spec("ZDIFFSTORE", Write, STORE_COUNTED),
    spec("ZINCRBY", Write, KEY),
    spec("ZINTER", Read, COUNTED_AT_1),
    spec("ZINTERCARD", Read, COUNTED_AT_1),
    spec("ZINTERSTORE", Write, STORE_COUNTED),
    spec("ZLEXCOUNT", Read, KEY),
    spec("ZMPOP", Write, COUNTED_AT_1),
    spec("ZMSCORE", Read, KEY),
    spec("ZPOPMAX", Write, KEY),
    spec("ZPOPMIN", Write, KEY),
    spec("ZRANDMEMBER", Read, KEY),
    spec("ZRANGE", Read, KEY),
    spec("ZRANGEBYLEX", Read, KEY),
    spec("ZRANGEBYSCORE", Read, KEY),
    spec("ZRANGESTORE", Write, TWO),
    spec("ZRANK", Read, KEY),
    spec("ZREM", Write, KEY),
    spec("ZREMRANGEBYLEX", Write, KEY),
    spec("ZREMRANGEBYRANK", Write, KEY),
    spec("ZREMRANGEBYSCORE", Write, KEY),
    spec("ZREVRANGE", Read, KEY),
    spec("ZREVRANGEBYLEX", Read, KEY),
    spec("ZREVRANGEBYSCORE", Read, KEY),
    spec("ZREVRANK", Read, KEY),
    spec("ZSCAN", Read, KEY),
    spec("ZSCORE", Read, KEY),
    spec("ZUNION", Read, COUNTED_AT_1),
    spec("ZUNIONSTORE", Write, STORE_COUNTED),
];

/// Served commands whose keys the gate locates by position (not channels, not refused).
pub fn commands_with_keys() -> impl Iterator<Item = &'static Spec> {
    COMMANDS
        .iter()
        .filter(|s| s.access != Access::Admin && !matches!(s.keys, Keys::None | Keys::Unsafe | Keys::Channels { .. }))
}

/// The command named `name`, in any case; `None` for a command the gate does not serve.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    const LONGEST: usize = 24;
    if name.len() > LONGEST {
        return None;
    }
    let mut upper = [0u8; LONGEST];
    for (to, from) in upper.iter_mut().zip(name) {
        *to = from.to_ascii_uppercase();
    }
    let upper = &upper[..name.len()];
    COMMANDS.binary_search_by(|spec| spec.name.as_bytes().cmp(upper)).ok().map(|i| &COMMANDS[i])
}
