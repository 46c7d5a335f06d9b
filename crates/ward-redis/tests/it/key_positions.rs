//! The command table's key positions, checked against Redis itself: for a sample of every
//! command that takes keys, `COMMAND GETKEYS` must name exactly the arguments the gate would
//! prefix. A command added to the table without a sample fails here.

use anyhow::Result;
use ward_redis::commands::{Keys, commands_with_keys, locate, lookup};
use ward_redis::protocol::{Args, Limits, parse_command};
use ward_testkit::redis::{bulk_strings, server};

/// One realistic invocation of every command in the table whose keys the gate locates.
pub const SAMPLES: &[&str] = &[
    "APPEND k v",
    "BITCOUNT k",
    "BITFIELD k GET u8 0",
    "BITFIELD_RO k GET u8 0",
    "BITOP AND d a b",
    "BITPOS k 1",
    "BLMOVE a b LEFT RIGHT 0",
    "BLMPOP 0 2 a b LEFT",
    "BLPOP a b 0",
    "BRPOP a b 0",
    "BRPOPLPUSH a b 0",
    "BZMPOP 0 2 a b MIN",
    "BZPOPMAX a b 0",
    "BZPOPMIN a b 0",
    "COPY a b",
    "DECR k",
    "DECRBY k 1",
    "DEL a b",
    "DUMP k",
    "EVAL x 2 a b c",
    "EVALSHA x 2 a b c",
    "EVALSHA_RO x 1 a b",
    "EVAL_RO x 1 a b",
    "EXISTS a b",
    "EXPIRE k 1",
    "EXPIREAT k 1",
    "EXPIRETIME k",
    "FCALL f 2 a b c",
    "FCALL_RO f 1 a b",
    "GEOADD k 0 0 m",
    "GEODIST k a b",
    "GEOHASH k m",
    "GEOPOS k m",
    "GEORADIUS k 0 0 1 km STORE d",
    "GEORADIUSBYMEMBER k m 1 km STOREDIST d",
    "GEORADIUSBYMEMBER_RO k m 1 km",
    "GEORADIUS_RO k 0 0 1 km",
    "GEOSEARCH k FROMMEMBER m BYRADIUS 1 km",
    "GEOSEARCHSTORE d k FROMMEMBER m BYRADIUS 1 km",
    "GET k",
    "GETBIT k 0",
    "GETDEL k",
    "GETEX k",
    "GETRANGE k 0 1",
    "GETSET k v",
    "HDEL k f",
    "HEXISTS k f",
    "HGET k f",
    "HGETALL k",
    "HINCRBY k f 1",
    "HINCRBYFLOAT k f 1",
    "HKEYS k",
    "HLEN k",
    "HMGET k f",
    "HMSET k f v",
    "HRANDFIELD k",
    "HSCAN k 0",
    "HSET k f v",
    "HSETNX k f v",
    "HSTRLEN k f",
    "HVALS k",
    "INCR k",
    "INCRBY k 1",
    "INCRBYFLOAT k 1",
    "LCS a b",
    "LINDEX k 0",
    "LINSERT k BEFORE p v",
    "LLEN k",
    "LMOVE a b LEFT RIGHT",
    "LMPOP 2 a b LEFT",
    "LPOP k",
    "LPOS k v",
    "LPUSH k v",
    "LPUSHX k v",
    "LRANGE k 0 1",
    "LREM k 0 v",
    "LSET k 0 v",
    "LTRIM k 0 1",
    "MGET a b",
    "MSET a 1 b 2",
    "MSETNX a 1 b 2",
    "OBJECT ENCODING k",
    "PERSIST k",
    "PEXPIRE k 1",
    "PEXPIREAT k 1",
    "PEXPIRETIME k",
    "PFADD k a",
    "PFCOUNT a b",
    "PFMERGE d a b",
    "PSETEX k 1 v",
    "PTTL k",
    "RENAME a b",
    "RENAMENX a b",
    "RESTORE k 0 payload",
    "RPOP k",
    "RPOPLPUSH a b",
    "RPUSH k v",
    "RPUSHX k v",
    "SADD k m",
    "SCARD k",
    "SDIFF a b",
    "SDIFFSTORE d a b",
    "SET k v",
    "SETBIT k 0 1",
    "SETEX k 1 v",
    "SETNX k v",
    "SETRANGE k 0 v",
    "SINTER a b",
    "SINTERCARD 2 a b",
    "SINTERSTORE d a b",
    "SISMEMBER k m",
    "SMEMBERS k",
    "SMISMEMBER k m",
    "SMOVE a b m",
    "SORT k LIMIT 0 1 STORE d",
    "SORT_RO k",
    "SPOP k",
    "SRANDMEMBER k",
    "SREM k m",
    "SSCAN k 0",
    "STRLEN k",
    "SUBSTR k 0 1",
    "SUNION a b",
    "SUNIONSTORE d a b",
    "TOUCH a b",
    "TTL k",
    "TYPE k",
    "UNLINK a b",
    "WATCH a b",
    "XACK s g 1-0",
    "XADD s * f v",
    "XAUTOCLAIM s g c 0 0",
    "XCLAIM s g c 0 1-0",
    "XDEL s 1-0",
    "XGROUP CREATE s g $",
    "XINFO STREAM s",
    "XLEN s",
    "XPENDING s g",
    "XRANGE s - +",
    "XREAD COUNT 1 STREAMS a b 0 0",
    "XREADGROUP GROUP g c COUNT 1 STREAMS a b > >",
    "XREVRANGE s + -",
    "XSETID s 1-0",
    "XTRIM s MAXLEN 1",
    "ZADD k 1 m",
    "ZCARD k",
    "ZCOUNT k 0 1",
    "ZDIFF 2 a b",
    "ZDIFFSTORE d 2 a b",
    "ZINCRBY k 1 m",
    "ZINTER 2 a b",
    "ZINTERCARD 2 a b",
    "ZINTERSTORE d 2 a b",
    "ZLEXCOUNT k - +",
    "ZMPOP 2 a b MIN",
    "ZMSCORE k m",
    "ZPOPMAX k",
    "ZPOPMIN k",
    "ZRANDMEMBER k",
    "ZRANGE k 0 1",
    "ZRANGEBYLEX k - +",
    "ZRANGEBYSCORE k 0 1",
    "ZRANGESTORE d k 0 1",
    "ZRANK k m",
    "ZREM k m",
    "ZREMRANGEBYLEX k - +",
    "ZREMRANGEBYRANK k 0 1",
    "ZREMRANGEBYSCORE k 0 1",
    "ZREVRANGE k 0 1",
    "ZREVRANGEBYLEX k + -",
    "ZREVRANGEBYSCORE k 1 0",
    "ZREVRANK k m",
    "ZSCAN k 0",
    "ZSCORE k m",
    "ZUNION 2 a b",
    "ZUNIONSTORE d 2 a b",
];

#[test]
fn every_command_with_keys_has_a_sample() {
    for spec in commands_with_keys() {
        assert!(
            SAMPLES.iter().any(|s| s.split(' ').next() == Some(spec.name)),
            "{} has keys but no sample: add one to SAMPLES",
            spec.name
        );
    }
}

#[test]
fn the_gate_prefixes_exactly_the_keys_redis_sees() -> Result<()> {
    let redis = server()?;
    for sample in SAMPLES {
        let input = format!("{sample}\r\n");
        let mut args = Args::default();
        parse_command(input.as_bytes(), &Limits::CLIENT, &mut args)?;
        let buf = input.as_bytes();
        let spec = lookup(args.get(buf, 0).unwrap_or_default())
            .ok_or_else(|| anyhow::anyhow!("{sample}: not in the table"))?;
        let mut positions = Vec::new();
        locate(spec, &args, buf, &mut positions).map_err(|e| anyhow::anyhow!("{sample}: {e}"))?;
        let ours: Vec<Vec<u8>> = positions.iter().filter_map(|&i| args.get(buf, i)).map(<[u8]>::to_vec).collect();

        let mut command: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        command.extend(args.iter(buf));
        let reply = redis.command(&command)?;
        anyhow::ensure!(reply.first() == Some(&b'*'), "{sample}: Redis answered {}", String::from_utf8_lossy(&reply));
        let theirs = bulk_strings(&reply);
        assert_eq!(
            ours.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect::<Vec<_>>(),
            theirs.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect::<Vec<_>>(),
            "{sample}"
        );
        // The sample's own shape is the kind of key spec it stands for.
        assert!(!matches!(spec.keys, Keys::None | Keys::Unsafe | Keys::Channels { .. }), "{sample}");
    }
    Ok(())
}
