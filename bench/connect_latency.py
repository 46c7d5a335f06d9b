"""Connection setup latency: connect, authenticate, first query, close — N times in a row.
Prints p50 and p99 in milliseconds as JSON. Used by bench/pg.sh for the gate, PgBouncer and
PostgreSQL alike (libpq from psycopg's binary wheel)."""
import json
import statistics
import sys
import time

import psycopg

conninfo, count = sys.argv[1], int(sys.argv[2])
samples = []
for _ in range(count):
    started = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("select 1").fetchone()
    samples.append((time.perf_counter() - started) * 1000)
samples.sort()
print(json.dumps({"p50": round(statistics.median(samples), 3), "p99": round(samples[int(len(samples) * 0.99) - 1], 3)}))
