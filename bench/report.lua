-- wrk script: rotate over the request paths listed in a file (one a line), then print one
-- machine-readable line with the figures the harness needs.
-- Usage: wrk ... -s bench/report.lua <url> -- <paths-file>

local paths = {}
local counter = 0

function init(args)
  local file = args[1]
  if file then
    for line in io.lines(file) do
      if #line > 0 then paths[#paths + 1] = line end
    end
  end
  if #paths == 0 then paths[1] = "/" end
  -- Each thread starts at a different place in the list.
  counter = math.random(#paths) - 1
end

function request()
  counter = counter + 1
  return wrk.format(nil, paths[(counter % #paths) + 1])
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
