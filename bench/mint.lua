-- wrk script for POST /v1/client/tokens, against Bouncer or the Node peer (bench/run, scenario
-- "mint"; see BENCHMARKS.md).
--   BOUNCER_KEY=sk_...            the permanent key, or
--   BOUNCER_KEY_FILE=/path/file   a file holding it (first line)
--   MINT_BODY='{"expiresIn":60}'  the request body (default: bench/micro/fixtures.h's kMintBody)
--   wrk -t1 -c64 -d10s --latency -s bench/mint.lua http://127.0.0.1:PORT/v1/client/tokens
-- done() prints how many answers were 200 and how many were anything else, as
-- "mint_status ok=N other=M", then the duration and the latency percentiles, for bench/run.

local function read_key()
  local key = os.getenv("BOUNCER_KEY")
  if key and key ~= "" then return key end
  local path = os.getenv("BOUNCER_KEY_FILE")
  if path and path ~= "" then
    local f = assert(io.open(path, "r"), "cannot open BOUNCER_KEY_FILE " .. path)
    key = f:read("*l")
    f:close()
    if key and key ~= "" then return key end
  end
  error("set BOUNCER_KEY or BOUNCER_KEY_FILE to an sk_ key")
end

wrk.method = "POST"
local body = os.getenv("MINT_BODY")
if body == nil or body == "" then
  body = '{"expiresIn":60,"allowedModels":["demo"],"allowedOrigins":["https://app.example.com"]}'
end
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-KEY"] = read_key()

-- Each wrk thread runs its own Lua state: keep per-thread counters and sum them in done().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Globals (not locals): done() reads them from each thread with thread:get().
ok, other = 0, 0
first_other = nil

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
  else
    other = other + 1
    if first_other == nil then first_other = status .. " " .. string.sub(body or "", 1, 200) end
  end
end

function done(summary, latency, requests)
  local total_ok, total_other, sample = 0, 0, nil
  for _, t in ipairs(threads) do
    total_ok = total_ok + (t:get("ok") or 0)
    total_other = total_other + (t:get("other") or 0)
    sample = sample or t:get("first_other")
  end
  io.write(string.format("mint_status ok=%d other=%d\n", total_ok, total_other))
  if sample then io.write("mint_first_other " .. sample .. "\n") end
  io.write(string.format("mint_duration_us %d\n", summary.duration))
  io.write(string.format("mint_latency_us p50=%d p90=%d p99=%d max=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
