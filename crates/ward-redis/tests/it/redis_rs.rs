//! The `redis` crate (redis-rs), as services use it, through the gate: the token as the
//! password of a `redis://` URL, in RESP2 and RESP3, with pipelines and transactions.

use anyhow::Result;
use redis::AsyncCommands as _;

use crate::gate::setup;

#[tokio::test]
async fn the_redis_crate_signs_in_with_a_token_and_stays_in_its_namespace() -> Result<()> {
    let s = setup().await?;
    let token = s.token("ursula", "cache:read cache:write");
    for (protocol, query) in [("RESP2", ""), ("RESP3", "?protocol=resp3")] {
        let client = redis::Client::open(format!("redis://ursula:{token}@{}{query}", s.addr))?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let key = format!("greeting-{protocol}");
        conn.set::<_, _, ()>(&key, "hello").await?;
        assert_eq!(conn.get::<_, String>(&key).await?, "hello", "{protocol}");
        // A pipeline, and a transaction (which takes the session a connection of its own).
        let (n, m): (i64, i64) = redis::pipe().incr("n", 1).incr("n", 1).query_async(&mut conn).await?;
        assert_eq!(m, n + 1);
        let (x,): (i64,) = redis::pipe().atomic().incr("t", 5).query_async(&mut conn).await?;
        assert!(x >= 5);
        let mut keys: Vec<String> = conn.keys("greeting-*").await?;
        keys.sort();
        assert!(keys.contains(&key) && keys.iter().all(|k| k.starts_with("greeting-")), "{keys:?}");
        let refused = redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await.map(|_| ()).unwrap_err();
        assert_eq!(refused.code(), Some("NOPERM"), "{refused}");
    }
    assert_eq!(s.redis.command(&[b"GET", b"u:ursula:greeting-RESP3"])?, b"$5\r\nhello\r\n");
    // A wrong token is refused at connect.
    let bad = redis::Client::open(format!("redis://ursula:not-a-token@{}", s.addr))?;
    assert!(bad.get_multiplexed_async_connection().await.is_err());
    Ok(())
}
