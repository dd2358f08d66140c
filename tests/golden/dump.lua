-- Writes wrk's own statistics (after its coordinated-omission correction) to $WRK_DUMP as JSON,
-- so a test can feed exactly these numbers to loadgen's formatter and compare with wrk's stdout.
local function bins(stats)
  local parts = {}
  for i = 1, #stats do
    local value, count = stats(i)
    parts[#parts + 1] = string.format("[%d,%d]", value, count)
  end
  return "[" .. table.concat(parts, ",") .. "]"
end

done = function(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open(os.getenv("WRK_DUMP"), "w"))
  f:write(string.format(
    '{"runtime_us": %d, "complete": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, "latency_mean": %.17g, "latency": %s, "req_per_sec": %s}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, bins(latency), bins(requests)))
  f:close()
end
