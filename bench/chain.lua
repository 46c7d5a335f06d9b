-- wrk: each request spends one secret (a refresh token or a code) from a per-thread queue read
-- from $TOKENS (thread i takes lines i, i+THREADS, …); with CHAIN=1 each response's new
-- refresh token joins the queue, so every request presents a token never used before.
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local threads = tonumber(os.getenv("THREADS"))
  queue, head, tail = {}, 1, 0
  local n = 0
  for line in io.lines(os.getenv("TOKENS")) do
    if n % threads == id then
      tail = tail + 1
      queue[tail] = line
    end
    n = n + 1
  end
  headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. os.getenv("AUTH"),
  }
  param, extra, chain = os.getenv("PARAM"), os.getenv("EXTRA"), os.getenv("CHAIN") == "1"
end

function request()
  local secret = "exhausted"
  if head <= tail then
    secret = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", nil, headers, param .. "=" .. secret .. extra)
end

function response(status, headers, body)
  if chain then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then
      tail = tail + 1
      queue[tail] = token
    end
  end
end
