-- wrk script for the ingest benchmark: POSTs the body in $BENCH_BODY to the URL's path and
-- counts answers outside 2xx (wrk's own "Non-2xx or 3xx" line treats 3xx as success).
-- done() prints one machine-readable line that bench/ingest/ingest.py parses.

local f = assert(io.open(assert(os.getenv("BENCH_BODY"), "BENCH_BODY unset"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "text/plain; charset=utf-8"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + (t:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d bytes=%d non2xx=%d err_connect=%d err_read=%d " ..
    "err_write=%d err_status=%d err_timeout=%d lat_p50_us=%d lat_p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes, n, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
