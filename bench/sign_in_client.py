"""Mints what bench/refresh.sh spends: signs a user in through Ward's pages once, then runs the
authorization endpoint N times for codes (and, for refresh tokens, redeems them). Standard
library only. Also times sign-ins (the argon2id cost a person pays).

    python3 bench/sign_in_client.py BASE_URL CLIENT_SECRET codes N OUT_FILE
    python3 bench/sign_in_client.py BASE_URL CLIENT_SECRET refresh N OUT_FILE
    python3 bench/sign_in_client.py BASE_URL CLIENT_SECRET sign-in N
"""
import base64
import hashlib
import http.client
import json
import re
import statistics
import sys
import time
import urllib.parse

BASE, SECRET, MODE, COUNT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
HOST = urllib.parse.urlsplit(BASE).netloc
REDIRECT = "https://app.example/cb"
USER, PASSWORD = "bench", "bench password 1234"
VERIFIER = "v" * 43
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
conn = http.client.HTTPConnection(HOST)


def request(method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read().decode()


def sign_in():
    """A fresh browser: the sign-in page, then the form. Returns the cookie header."""
    response, page = request("GET", "/sign-in")
    csrf_cookie = response.getheader("set-cookie").split(";")[0]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "username": USER, "password": PASSWORD})
    started = time.perf_counter()
    response, _ = request("POST", "/sign-in", form, {"content-type": "application/x-www-form-urlencoded", "cookie": csrf_cookie})
    elapsed = time.perf_counter() - started
    assert response.status == 303, response.status
    session = [c.split(";")[0] for c in response.headers.get_all("set-cookie") if c.startswith("ward_session=")][0]
    return f"{csrf_cookie}; {session}", elapsed


def code(cookies):
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": "bench", "redirect_uri": REDIRECT, "scope": "openid offline_access",
        "code_challenge": CHALLENGE, "code_challenge_method": "S256",
    })
    response, body = request("GET", f"/oauth/authorize?{query}", headers={"cookie": cookies})
    assert response.status == 303, (response.status, body)
    location = response.getheader("location")
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]


def redeem(code_value):
    auth = base64.b64encode(f"bench:{SECRET}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code_value, "redirect_uri": REDIRECT, "code_verifier": VERIFIER})
    response, body = request("POST", "/oauth/token", form, {"content-type": "application/x-www-form-urlencoded", "authorization": f"Basic {auth}"})
    assert response.status == 200, body
    return json.loads(body)["refresh_token"]


if MODE == "sign-in":
    times = [sign_in()[1] * 1000 for _ in range(COUNT)]
    print(f"{statistics.median(times):.1f} {max(times):.1f}")
    sys.exit(0)
cookies, _ = sign_in()
with open(sys.argv[5], "w") as out:
    for _ in range(COUNT):
        value = code(cookies)
        out.write((value if MODE == "codes" else redeem(value)) + "\n")
print(f"code_verifier={VERIFIER}")
