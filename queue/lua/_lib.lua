-- Shared helpers, prepended to every script of this folder by queue/src/scripts.ts (Redis cannot include
-- files). Scripts touch only the keys they are given in KEYS, named by queue/src/keys.ts: key names live
-- in one place, and a script's keys are known before it runs, as Redis Cluster requires.

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A string as JSON, as Ruby's JSON writes it: cjson escapes `/`, which Ruby leaves as it is. (A `/` is always
-- escaped, so `\/` in cjson's output is always an escaped `/`.)
local function json_string(s)
  return (string.gsub(cjson.encode(s), '\\/', '/'))
end

-- A payload embedded in a JSON record (Resque's `worker:<id>`, a failure record): as it is when it is a JSON
-- object, so that its bytes are kept, else as a JSON string. A payload is never decoded here: a job of
-- megabytes would hold Redis for a second. An object is told by its first and last bytes other than spaces.
-- A payload that only looks like one is embedded as it is too. No child ever runs it (the master parses every
-- payload first, and records one that is not JSON as a Forkpool::MalformedPayload failure at once), so it is
-- shown as running only for a moment, and a worker can hardly die running it.
local function embedded(payload)
  local first = string.find(payload, '[^ \t\r\n]')
  local last = #payload
  while last > 0 and string.find(' \t\r\n', string.sub(payload, last, last), 1, true) do last = last - 1 end
  if first and string.sub(payload, first, first) == '{' and string.sub(payload, last, last) == '}' then return payload end
  return json_string(payload)
end

-- Resque's `worker:<id>` value: the job a worker runs.
local function running_job(queue, payload, run_at)
  return '{"queue":' .. json_string(queue) .. ',"run_at":' .. json_string(run_at) .. ',"payload":' .. embedded(payload) .. '}'
end

-- An in-flight entry: `<taken_at ms>:<queue length in bytes>:<queue>:<payload>`. Scripts read the queue and
-- the time from this prefix and keep the payload's bytes after it as they are, never decoding them.
local function entry(queue, payload, taken_at)
  return string.format('%d:%d:', taken_at, #queue) .. queue .. ':' .. payload
end

-- An in-flight entry's prefix: {taken_at, queue, at = where its payload starts}. `where` names the entry in
-- the error an entry of another form raises.
local function read_entry(raw, where)
  local taken_at, len, at = string.match(raw, '^(%d+):(%d+):()')
  if not at then error('in-flight entry ' .. where .. ' is not <taken_at>:<queue length>:<queue>:<payload>: ' .. string.sub(raw, 1, 80)) end
  local after = at + tonumber(len)
  return { taken_at = tonumber(taken_at), queue = string.sub(raw, at, after - 1), at = after + 1 }
end

-- A Unix time in seconds as its UTC date and time: year, month, day, hour, minute, second.
local function utc(s)
  local days = math.floor(s / 86400)
  local secs = s - days * 86400
  -- days since 1970-01-01 to a civil date (Howard Hinnant's civil_from_days)
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local day = doy - math.floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return year, month, day, math.floor(secs / 3600), math.floor(secs % 3600 / 60), secs % 60
end

-- Resque's run_at (`2026-11-27T07:12:02Z`) for a Unix time in seconds.
local function iso_utc(s)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02dZ', utc(s))
end

-- Resque's heartbeat, Ruby's Time#iso8601 in UTC (`2026-11-27T07:12:02+00:00`), for a Unix time in seconds.
local function heartbeat_utc(s)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d+00:00', utc(s))
end

-- Resque's `worker:<id>:started`, Ruby's Time#to_s in UTC (`2026-11-27 07:12:02 +0000`).
local function started_utc(s)
  return string.format('%04d-%02d-%02d %02d:%02d:%02d +0000', utc(s))
end

-- Resque's failed_at (`2026/11/27 07:12:13 UTC`) for a Unix time in seconds.
local function failed_at_utc(s)
  return string.format('%04d/%02d/%02d %02d:%02d:%02d UTC', utc(s))
end

-- The queues a script was given: names from ARGV[first_arg] on, and their lists from KEYS[first_key] on,
-- as many of each. Returns them in order ({name, key} each) and by name.
local function queue_lists(first_key, first_arg)
  local list, by_name = {}, {}
  for i = first_arg, #ARGV do
    local q = { name = ARGV[i], key = KEYS[first_key + i - first_arg] }
    list[#list + 1] = q
    by_name[q.name] = q.key
  end
  if first_key + #list - 1 ~= #KEYS then
    error('queue names (ARGV[' .. first_arg .. '...]) and queue keys (KEYS[' .. first_key .. '...]) differ in number')
  end
  return list, by_name
end

-- Take the first job of the first non-empty queue, in priority order, into the worker's in-flight hash.
-- With min_left > 0 it is a take-ahead (a job to start when the running one ends): it happens only when
-- more than min_left jobs wait in that queue, so that a worker never holds a job an idle one could run.
-- A take under a field that already holds a job returns that job: a take sent twice (ioredis re-sends what
-- was unanswered when a connection dropped; a slot retries its idle take) never writes over a job it holds.
-- run_at '' means now by Redis's clock: a take that waited in Redis cannot know beforehand when it runs.
-- k: the keys it writes (inflight, running, worker), queues: from queue_lists.
local function take(k, field, run_at, queues, min_left)
  local held = redis.call('HGET', k.inflight, field)
  if held then
    local e = read_entry(held, field)
    return { e.queue, string.sub(held, e.at) }
  end
  if run_at == '' then run_at = iso_utc(tonumber(redis.call('TIME')[1])) end
  for _, q in ipairs(queues) do
    local waiting = redis.call('LLEN', q.key)
    if waiting > 0 then
      if waiting <= min_left then return false end
      local payload = redis.call('LPOP', q.key)
      redis.call('HSET', k.inflight, field, entry(q.name, payload, now_ms()))
      redis.call('HINCRBY', k.running, q.name, 1)
      redis.call('SET', k.worker, running_job(q.name, payload, run_at))
      return { q.name, payload }
    end
  end
  return false
end

-- A field `<slot>.<n>` as its slot and its number (a field of another form: itself, 0).
local function field_parts(field)
  local slot, n = string.match(field, '^(.*)%.(%d+)$')
  if not slot then return field, 0 end
  return slot, tonumber(n)
end

-- A job recovered more than MAX_RECOVERIES times becomes this failure record (Resque's fields in Resque's
-- order) instead of going back to its queue. rec: see hand_back.
local function poison_record(queue, payload, count, rec)
  local message = string.format('recovered %d times, more than MAX_RECOVERIES (%d); the last time %s (%s)', count, rec.max, rec.how, rec.worker)
  return '{"failed_at":' .. json_string(failed_at_utc(tonumber(redis.call('TIME')[1]))) .. ',"payload":' .. embedded(payload) ..
    ',"exception":"Forkpool::PoisonJob","error":' .. json_string(message) .. ',"backtrace":[],"worker":' .. json_string(rec.worker) ..
    ',"queue":' .. json_string(queue) .. '}'
end

-- Put a worker's in-flight jobs (all, or those under the given fields) back at the head of their queues.
-- k: the keys it writes (inflight, running, queues), lists: queue name -> list key (from queue_lists).
-- rec: nil for a worker that hands back its own jobs (it stops). For jobs recovered from a worker that did
-- not finish them (dead, or holding them no more), the keys and words of their recovery count:
-- { counts = recoveries key, failed = failed key, failed_stat = stat('failed') key, max = MAX_RECOVERIES,
--   worker = the worker they are recovered from, how = why, for the failure record }.
-- A job that takes its whole worker down (it exhausts the container's memory) would be recovered and run
-- again without end, and hold up the jobs behind it: each recovery is counted, by the payload's SHA-1 (the
-- payload's bytes stay as they were enqueued), and past max the job becomes a Forkpool::PoisonJob failure.
-- Only the job each slot took first is counted: the one it was running; the others never started.
-- Returns {handed = jobs handed back, poisoned = jobs recorded as failures}, or nil and the names of the
-- queues held jobs belong to that have no list in `lists`: then nothing is written, and the caller calls
-- again with them (it could not know them before reading the in-flight hash).
local function hand_back(k, lists, fields, rec)
  local entries
  if #fields == 0 then
    entries = redis.call('HGETALL', k.inflight)
  else
    entries = {}
    for _, field in ipairs(fields) do
      local v = redis.call('HGET', k.inflight, field)
      if v then table.insert(entries, field); table.insert(entries, v) end
    end
  end
  local held, missing, seen = {}, {}, {}
  for i = 1, #entries, 2 do
    local e = read_entry(entries[i + 1], entries[i])
    e.field, e.raw = entries[i], entries[i + 1]
    e.slot, e.n = field_parts(e.field)
    table.insert(held, e)
    if not lists[e.queue] and not seen[e.queue] then
      seen[e.queue] = true
      table.insert(missing, e.queue)
    end
  end
  if #missing > 0 then return nil, missing end
  -- The job taken first goes back last, so it ends up first at the head of its queue.
  table.sort(held, function(a, b)
    if a.taken_at ~= b.taken_at then return a.taken_at > b.taken_at end
    if a.slot ~= b.slot then return a.slot > b.slot end
    return a.n > b.n
  end)
  local first_of_slot = {}
  for _, e in ipairs(held) do first_of_slot[e.slot] = e end
  local handed, poisoned = 0, 0
  for _, e in ipairs(held) do
    local payload = string.sub(e.raw, e.at)
    local count = 0
    if rec and first_of_slot[e.slot] == e then
      local id = redis.sha1hex(payload)
      count = redis.call('HINCRBY', rec.counts, id, 1)
      if count > rec.max then redis.call('HDEL', rec.counts, id) end
    end
    if rec and count > rec.max then
      redis.call('RPUSH', rec.failed, poison_record(e.queue, payload, count, rec))
      redis.call('INCR', rec.failed_stat)
      poisoned = poisoned + 1
    else
      redis.call('LPUSH', lists[e.queue], payload)
      redis.call('SADD', k.queues, e.queue)
      handed = handed + 1
    end
    if redis.call('HINCRBY', k.running, e.queue, -1) <= 0 then
      redis.call('HDEL', k.running, e.queue)
    end
    redis.call('HDEL', k.inflight, e.field)
  end
  return { handed = handed, poisoned = poisoned }
end

-- Where a list holds the item whose SHA-1 (of its exact bytes) is `sha`: at `index` when it is still there (the
-- caller saw it there), else the first such item from the head, read a page at a time. nil when it is gone.
local function find_by_sha(list, index, sha)
  local at = redis.call('LINDEX', list, index)
  if at and redis.sha1hex(at) == sha then return index end
  local page, start = 200, 0
  while true do
    local items = redis.call('LRANGE', list, start, start + page - 1)
    for i, item in ipairs(items) do
      if redis.sha1hex(item) == sha then return start + i - 1 end
    end
    if #items < page then return nil end
    start = start + page
  end
end

-- Removes the item at `index` of a list: Resque's way, overwriting it with a marker no item can equal (a Lua
-- string with a NUL and the script's own time), then removing that marker.
local function remove_at(list, index)
  local marker = '\0forkpool-remove\0' .. now_ms()
  redis.call('LSET', list, index, marker)
  redis.call('LREM', list, 1, marker)
end
