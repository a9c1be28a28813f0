-- wrk script: rotate over the requests listed in a file (one a line), then print one
-- machine-readable line with the figures the harness needs.
-- A line is a path (a GET), or "<METHOD> <path> <body>" (the body: the rest of the line).
-- Usage: wrk ... -s bench/report.lua <url> -- <requests-file>

local requests = {}
local counter = 0

function init(args)
  local file = args[1]
  if file then
    for line in io.lines(file) do
      if #line > 0 then
        local method, path, body = line:match("^(%u+) (%S+) ?(.*)$")
        if method then
          requests[#requests + 1] = {method, path, #body > 0 and body or nil}
        else
          requests[#requests + 1] = {"GET", line, nil}
        end
      end
    end
  end
  if #requests == 0 then requests[1] = {"GET", "/", nil} end
  -- Each thread starts at a different place in the list.
  counter = math.random(#requests) - 1
end

function request()
  counter = counter + 1
  local r = requests[(counter % #requests) + 1]
  return wrk.format(r[1], r[2], nil, r[3])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK requests=%d duration_us=%d bytes=%d p50_us=%d p95_us=%d p99_us=%d max_us=%d " ..
    "connect_errors=%d read_errors=%d write_errors=%d status_errors=%d timeouts=%d\n",
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
