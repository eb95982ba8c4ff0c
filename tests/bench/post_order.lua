-- wrk script: POST /v1/orders with a user JWT from $TOKEN; at the end one
-- line of figures for tests/bench/run.sh. non202 is a global so that done()
-- can add up every thread's count (thread:get).
wrk.method = "POST"
wrk.body = '{"order_type":"vip","total_amount":"19.99"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")

local threads = {}
function setup(thread)
    table.insert(threads, thread)
end

non202 = 0
function response(status, headers, body)
    if status ~= 202 then
        non202 = non202 + 1
    end
end

function done(summary, latency, requests)
    local bad = 0
    for _, t in ipairs(threads) do
        bad = bad + (t:get("non202") or 0)
    end
    local e = summary.errors
    local secs = summary.duration / 1e6
    io.write(string.format(
        "BENCH ok=%d errors=%d rps=%.1f p50=%.3f p99=%.3f p999=%.3f\n",
        summary.requests - bad, bad + e.connect + e.read + e.write + e.timeout,
        (summary.requests - bad) / secs, latency:percentile(50) / 1000,
        latency:percentile(99) / 1000, latency:percentile(99.9) / 1000))
end
