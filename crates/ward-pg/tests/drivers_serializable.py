"""Serializable transactions and statements that must run first, through the gate, with
the Python drivers people use: psycopg (libpq) and asyncpg (its own protocol code, named
prepared statements, `BEGIN ISOLATION LEVEL SERIALIZABLE`).

Usage: PGPASSWORD=<token> python3 drivers_serializable.py "<conninfo>" <rounds>
Prints one JSON object: per driver, transactions committed and failures.
"""
import asyncio
import json
import os
import sys

import asyncpg
import psycopg

conninfo, rounds = sys.argv[1], int(sys.argv[2])
token = os.environ["PGPASSWORD"]
result = {}


def with_psycopg():
    ok, failures = 0, []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for _ in range(rounds):
            try:
                conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
                with conn.transaction():
                    level = conn.execute("show transaction_isolation").fetchone()[0]
                    who = conn.execute("select ward.user_id()").fetchone()[0]
                    assert (level, who) == ("serializable", "alice"), (level, who)
                ok += 1
            except Exception as e:  # noqa: BLE001 - every failure is reported
                failures.append(repr(e))
        conn.execute("vacuum alone.t")
    return {"ok": ok, "failures": failures[:3]}


async def with_asyncpg():
    params = dict(p.split("=", 1) for p in conninfo.split())
    conn = await asyncpg.connect(
        host=params["host"], port=int(params["port"]), user=params["user"],
        database=params["dbname"], password=token, ssl=False,
    )
    ok, failures = 0, []
    for _ in range(rounds):
        try:
            async with conn.transaction(isolation="serializable"):
                level = await conn.fetchval("show transaction_isolation")
                who = await conn.fetchval("select ward.user_id()")
                assert (level, who) == ("serializable", "alice"), (level, who)
            ok += 1
        except Exception as e:  # noqa: BLE001
            failures.append(repr(e))
    await conn.execute("vacuum alone.t")
    await conn.close()
    return {"ok": ok, "failures": failures[:3]}


result["psycopg"] = with_psycopg()
result["asyncpg"] = asyncio.run(with_asyncpg())
print(json.dumps(result))
