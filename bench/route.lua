-- One parley route for wrk: every request is pre-formatted in init(), so the Lua cost per
-- request is a table lookup. Arguments (after `--`): method, path template ("{id}" is replaced
-- by each id in turn), ids file or "-", body file or "-", API key.
-- done() prints one line `BENCH_JSON {...}` with wrk's own counts and latency percentiles (µs).

local thread_count = 0

function setup(thread)
  thread:set("offset", thread_count)
  thread_count = thread_count + 1
end

local requests = {}
local index = 1

local function read_all(path)
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

function init(args)
  local method, template, ids_file, body_file, key = args[1], args[2], args[3], args[4], args[5]
  local headers = { ["Authorization"] = "Bearer " .. key }
  local body = nil
  if body_file ~= "-" then
    body = read_all(body_file)
    headers["Content-Type"] = "application/json"
  end
  if ids_file == "-" then
    requests[1] = wrk.format(method, template, headers, body)
  else
    for id in io.lines(ids_file) do
      if id ~= "" then
        local path = template:gsub("{id}", id)
        requests[#requests + 1] = wrk.format(method, path, headers, body)
      end
    end
  end
  -- Threads start at different places in the rotation, so they do not hit the same rows.
  index = ((offset or 0) * 7919) % #requests + 1
end

function request()
  local r = requests[index]
  index = index % #requests + 1
  return r
end

function done(summary, latency, requests_)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50.0), latency:percentile(90.0), latency:percentile(99.0),
    latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
