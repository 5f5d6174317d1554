-- Shared by every scenario. bench/wrk.py puts a prelude before this file, defining:
--   nthreads  wrk's thread count
--   tokens    the bearer tokens of the seeded users (a real login each)
--   cursors   cursors[u] is a GET /sync cursor of tokens[u] (empty until the sync scenario)
--   ids       ids[u] is the list of task ids owned by tokens[u]
-- and appends the scenario's own request() after it.

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("thread_index", #threads)
end

function init(args)
   -- Thread k takes the counters k-1, k-1+nthreads, ...: the threads never repeat each other.
   counter = (thread_index or 1) - 1
   responses = 0
   non2xx = 0
   statuses = {}
end

-- The next request's user (an index into tokens) and how many times that user came round before.
function next_pick()
   local n = #tokens
   local user = counter % n + 1
   local round = math.floor(counter / n)
   counter = counter + nthreads
   return user, round
end

-- One of the user's own task ids, a different one each time round.
function own_id(user, round)
   local own = ids[user]
   return own[round % #own + 1]
end

function headers_for(user, json)
   local headers = {}
   headers["Authorization"] = "Bearer " .. tokens[user]
   if json then
      headers["Content-Type"] = "application/json"
   end
   return headers
end

-- Every response, counted in the thread that received it (wrk itself counts only status > 399).
function response(status, headers, body)
   responses = responses + 1
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
   end
end

-- One machine-readable line for bench/wrk.py: the threads' counts added up, latency in microseconds.
function done(summary, latency, requests)
   local total_responses, total_non2xx, by_status = 0, 0, {}
   for _, thread in ipairs(threads) do
      total_responses = total_responses + thread:get("responses")
      total_non2xx = total_non2xx + thread:get("non2xx")
      for status, count in pairs(thread:get("statuses")) do
         by_status[status] = (by_status[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(by_status) do
      table.insert(parts, string.format('"%s":%d', status, count))
   end
   local errors = summary.errors
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"responses":%d,"non2xx":%d,'
         .. '"non2xx_by_status":{%s},'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
      summary.requests, summary.duration, summary.bytes, total_responses, total_non2xx,
      table.concat(parts, ","),
      errors.connect, errors.read, errors.write, errors.status, errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean
   ))
end
