"""A stock libpq 18 client (psycopg's bundled libpq) connecting with OAUTHBEARER.

libpq 18 runs the OAuth flow itself: it asks the server for discovery information, then
asks the application for a token through PQsetAuthDataHook, then reconnects with it. The
hook here hands over the token from the TOKEN environment variable, as a real application
would hand over one from its own login. Prints the query result and the discovery URL the
server advertised, as JSON.

Usage: TOKEN=… PGOAUTHDEBUG=UNSAFE python3 libpq_oauth.py "<conninfo>" "<sql>"
"""
import ctypes
import glob
import json
import os
import sys

import psycopg
import psycopg_binary

PQAUTHDATA_OAUTH_BEARER_TOKEN = 1


class BearerRequest(ctypes.Structure):
    # struct PGoauthBearerRequest from libpq-fe.h (PostgreSQL 18).
    _fields_ = [
        ("openid_configuration", ctypes.c_char_p),
        ("scope", ctypes.c_char_p),
        ("async_", ctypes.c_void_p),
        ("cleanup", ctypes.c_void_p),
        ("token", ctypes.c_void_p),
        ("user", ctypes.c_void_p),
    ]


libs = glob.glob(os.path.join(os.path.dirname(psycopg_binary.__file__), "..", "psycopg_binary.libs", "libpq*.so*"))
libpq = ctypes.CDLL(libs[0])
token = ctypes.create_string_buffer(os.environ["TOKEN"].encode())
seen = {}
HOOK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def hook(kind, conn, data):
    if kind != PQAUTHDATA_OAUTH_BEARER_TOKEN:
        return 0
    request = ctypes.cast(data, ctypes.POINTER(BearerRequest)).contents
    seen["openid_configuration"] = (request.openid_configuration or b"").decode()
    seen["scope"] = (request.scope or b"").decode()
    request.token = ctypes.cast(token, ctypes.c_void_p).value
    return 1


callback = HOOK(hook)
libpq.PQsetAuthDataHook(callback)

conninfo, sql = sys.argv[1], sys.argv[2]
try:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(sql).fetchone()
    print(json.dumps({"ok": True, "row": list(row), "libpq": psycopg.pq.version(), **seen}))
except psycopg.Error as e:
    print(json.dumps({"ok": False, "error": str(e), "sqlstate": getattr(e, "sqlstate", None), **seen}))
