--[[
  Record that a worker is alive: forkpool's liveness zset, and Resque's registration and heartbeat, which
  resque-web reads. Registering on every beat means a Redis that lost its data (restarted without
  persistence) sees the worker again within one interval. Every time is Redis's clock, never the worker's
  host's: a Ruby worker's prune_dead_workers compares Resque's heartbeats with Redis's TIME, and would write
  off (and record a PruneDeadWorkerDirtyExit failure for) a live worker whose host clock lags.

  And hand back what the worker's in-flight hash holds that the worker does not: it names every field it
  may hold a job under (the jobs it runs or has taken, and its takes under way), and a job under any other
  field goes back to the head of its queue, and is counted as recovered, as a dead worker's jobs are (see
  hand_back in _lib.lua). Such a job is held by no process: a finish acknowledged by a Redis that then
  failed over without it, say.

  And tell the worker what it no longer holds: whether it was still registered as alive (a worker whose
  heartbeat expired was written off, and its jobs handed back, by another), and which of the fields it
  named hold nothing (it must not start a job it took under one).

  Input:
    KEYS[1]      alive                   worker -> last heartbeat in ms (forkpool's)
    KEYS[2]      workers                 registered workers (Resque's)
    KEYS[3]      workerStarted(worker)   when the worker started (Resque's)
    KEYS[4]      heartbeats              worker -> last heartbeat (Resque's)
    KEYS[5]      inflight(worker)        the jobs the worker holds
    KEYS[6]      running                 jobs held in flight, per queue
    KEYS[7]      queues                  queue names (Resque's)
    KEYS[8]      worker(worker)          the job the worker shows running (Resque's)
    KEYS[9]      recoveries              payload SHA-1 -> times the job was recovered
    KEYS[10]     failed                  failure records
    KEYS[11]     stat('failed')
    KEYS[12...]  queue(name)             the lists of the queues of jobs to hand back, one per queue name in ARGV

    ARGV[1]         worker               the worker id
    ARGV[2]         max_recoveries       MAX_RECOVERIES
    ARGV[3]         n                    how many fields follow
    ARGV[4...]      fields               the fields the worker may hold a job under, n of them
    ARGV[n + 4...]  queue names

  Output:
    {alive, handed back, poisoned, empty fields...}: alive 1 when the worker was registered as alive before
    this beat, else 0; the numbers of jobs handed back and recorded as poison; the fields named that hold no
    job. Or, when a job to hand back belongs to a queue not among the names (the caller cannot know them
    before reading the in-flight hash), those queues' names and nothing done: call again with them.
]]
local worker = ARGV[1]
local n = tonumber(ARGV[3])
local mine = {}
for i = 4, n + 3 do mine[ARGV[i]] = true end
local _, lists = queue_lists(12, n + 4)
local k = { inflight = KEYS[5], running = KEYS[6], queues = KEYS[7] }

local others, held = {}, {}
for _, field in ipairs(redis.call('HKEYS', k.inflight)) do
  held[field] = true
  if not mine[field] then others[#others + 1] = field end
end
local done = { handed = 0, poisoned = 0 }
if #others > 0 then
  local rec = {
    counts = KEYS[9], failed = KEYS[10], failed_stat = KEYS[11], max = tonumber(ARGV[2]), worker = worker,
    how = 'its worker held it without running it',
  }
  local missing
  done, missing = hand_back(k, lists, others, rec)
  if not done then return missing end
  if redis.call('HLEN', k.inflight) == 0 then redis.call('DEL', KEYS[8]) end
end

local now = redis.call('TIME')
local alive = redis.call('ZADD', KEYS[1], tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000), worker) == 0 and 1 or 0
redis.call('SADD', KEYS[2], worker)
redis.call('SET', KEYS[3], started_utc(tonumber(now[1])), 'NX')
redis.call('HSET', KEYS[4], worker, heartbeat_utc(tonumber(now[1])))
local out = { alive, done.handed, done.poisoned }
for i = 4, n + 3 do
  if not held[ARGV[i]] then out[#out + 1] = ARGV[i] end
end
return out
