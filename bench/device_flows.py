"""1,000 concurrent device flows against Ward (RFC 8628): each asks for codes, is approved over
HTTP by a signed-in person, and polls at its interval until it has tokens. Standard library
only: asyncio with one keep-alive HTTP/1.1 connection per flow, in WORKERS processes.

    python3 bench/device_flows.py BASE_URL FLOWS WORKERS
Prints one JSON line: phases' requests/s, poll latencies, completions.
"""
import asyncio
import json
import multiprocessing
import re
import statistics
import sys
import time
import urllib.parse

BASE, FLOWS, WORKERS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
HOST, PORT = urllib.parse.urlsplit(BASE).hostname, urllib.parse.urlsplit(BASE).port
USER, PASSWORD = "bench", "bench password 1234"


class Conn:
    """One keep-alive connection; request() returns (status, headers, body)."""

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(HOST, PORT)

    async def request(self, method, path, form=None, cookie=None):
        body = urllib.parse.urlencode(form).encode() if form is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\nContent-Length: {len(body)}\r\n"
        if form is not None:
            head += "Content-Type: application/x-www-form-urlencoded\r\n"
        if cookie:
            head += f"Cookie: {cookie}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers = {}
        while True:
            line = (await self.reader.readline()).decode().strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers.setdefault(name.lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        data = await self.reader.readexactly(length) if length else b""
        return status, headers, data.decode()


async def sign_in():
    conn = Conn()
    await conn.open()
    _, headers, page = await conn.request("GET", "/sign-in")
    csrf_cookie = headers["set-cookie"][0].split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    _, headers, _ = await conn.request("POST", "/sign-in", {"csrf": csrf, "username": USER, "password": PASSWORD}, csrf_cookie)
    session = [c.split(";")[0] for c in headers["set-cookie"] if c.startswith("ward_session=")][0]
    return f"{csrf_cookie}; {session}", csrf


async def flow(cookie, csrf, stats, barrier):
    device, person = Conn(), Conn()
    await device.open()
    await person.open()
    await barrier.wait()
    t = time.perf_counter()
    status, _, body = await device.request("POST", "/oauth/device_authorization", {"client_id": "bench-tv", "scope": "openid"})
    stats["authorize"].append(time.perf_counter() - t)
    assert status == 200, body
    codes = json.loads(body)
    interval = codes["interval"]
    poll_form = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": "bench-tv",
                 "device_code": codes["device_code"]}
    # The device polls at once; the person has not approved yet.
    await barrier.wait()
    t = time.perf_counter()
    status, _, body = await device.request("POST", "/oauth/token", poll_form)
    stats["pending"].append(time.perf_counter() - t)
    assert json.loads(body).get("error") == "authorization_pending", body
    last_poll = time.perf_counter()
    await barrier.wait()
    t = time.perf_counter()
    status, _, page = await person.request("POST", "/device", {"csrf": csrf, "user_code": codes["user_code"]}, cookie)
    assert status == 200, page
    status, _, page = await person.request(
        "POST", "/device/decide", {"csrf": csrf, "user_code": codes["user_code"], "decision": "approve"}, cookie)
    assert status == 200, page
    stats["approve"].append(time.perf_counter() - t)
    started = time.perf_counter()
    while True:
        # Poll no sooner than the interval after the last poll, as RFC 8628 §3.5 asks.
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - last_poll)))
        t = time.perf_counter()
        status, _, body = await device.request("POST", "/oauth/token", poll_form)
        last_poll = time.perf_counter()
        stats["poll"].append(time.perf_counter() - t)
        answer = json.loads(body)
        if status == 200:
            stats["completed"] += 1
            stats["flow"].append(time.perf_counter() - started)
            return
        stats["errors"][answer.get("error")] = stats["errors"].get(answer.get("error"), 0) + 1
        if answer.get("error") == "slow_down":
            interval += 5
        elif answer.get("error") != "authorization_pending":
            return


async def run(flows):
    cookie, csrf = await sign_in()
    stats = {"authorize": [], "pending": [], "approve": [], "poll": [], "flow": [], "completed": 0, "errors": {}}
    barrier = asyncio.Barrier(flows)
    marks = {}

    async def timed():
        await asyncio.gather(*(flow(cookie, csrf, stats, barrier) for _ in range(flows)))

    t = time.perf_counter()
    await timed()
    marks["total"] = time.perf_counter() - t
    return stats, marks


def worker(flows, queue):
    stats, marks = asyncio.run(run(flows))
    queue.put((stats, marks))


if __name__ == "__main__":
    queue = multiprocessing.Queue()
    per = FLOWS // WORKERS
    procs = [multiprocessing.Process(target=worker, args=(per, queue)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    merged = {"authorize": [], "pending": [], "approve": [], "poll": [], "flow": [], "completed": 0, "errors": {}}
    for stats, _ in results:
        for k in ("authorize", "pending", "approve", "poll", "flow"):
            merged[k] += stats[k]
        merged["completed"] += stats["completed"]
        for e, n in stats["errors"].items():
            merged["errors"][e] = merged["errors"].get(e, 0) + n

    def pct(values, p):
        values = sorted(values)
        return values[min(len(values) - 1, int(len(values) * p))] * 1000

    # Each phase starts together (a barrier); its rate is its requests over its slowest flow.
    print(json.dumps({
        "flows": FLOWS,
        "completed": merged["completed"],
        "errors": merged["errors"],
        "authorize_rps": round(len(merged["authorize"]) / max(merged["authorize"])),
        "pending_rps": round(len(merged["pending"]) / max(merged["pending"])),
        "approve_rps": round(2 * len(merged["approve"]) / max(merged["approve"])),
        "poll_p50_ms": round(pct(merged["pending"] + merged["poll"], 0.50), 1),
        "poll_p95_ms": round(pct(merged["pending"] + merged["poll"], 0.95), 1),
        "polls": len(merged["pending"]) + len(merged["poll"]),
        "flow_p50_s": round(statistics.median(merged["flow"]), 2),
        "total_s": round(max(m["total"] for _, m in results), 2),
        "requests": len(merged["authorize"]) + len(merged["pending"]) + 2 * len(merged["approve"]) + len(merged["poll"]),
    }))
