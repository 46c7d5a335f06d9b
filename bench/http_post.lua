-- wrk script for bench/http.sh: POSTs to Ward's HTTP data API with a bearer token.
-- KIND=query: a primary-key SELECT with a random aid (as pgbench -S picks one);
-- KIND=command: GET of one key.
local token = os.getenv("TOKEN")
local kind = os.getenv("KIND")
local scale = tonumber(os.getenv("SCALE") or "10")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  if kind == "query" then
    local aid = math.random(1, 100000 * scale)
    local body = '{"query":"SELECT abalance FROM pgbench_accounts WHERE aid = $1","params":[' .. aid .. ']}'
    return wrk.format(nil, "/query", nil, body)
  end
  return wrk.format(nil, "/command", nil, '{"command":"GET","args":["key"]}')
end
