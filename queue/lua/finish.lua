--[[
  Finish a job a worker holds and, in the same round trip, take the next one.

  Input:
    KEYS[1]      inflight(worker)                  the jobs the worker holds
    KEYS[2]      running                           jobs held in flight, per queue
    KEYS[3]      worker(worker)                    the job the worker shows running (Resque's)
    KEYS[4]      stat('processed')                 Resque's counters, of all workers
    KEYS[5]      workerStat('processed', worker)   and of this one
    KEYS[6]      stat('failed')
    KEYS[7]      workerStat('failed', worker)
    KEYS[8]      failed                            failure records
    KEYS[9]      delayedSchedule                   resque-scheduler's timestamps of delayed jobs
    KEYS[10]     delayed(retry_ts)                 the delayed jobs due at the retry time ('retry' only)
    KEYS[11]     timestamps(record)                the retry's entry in resque-scheduler's index ('retry' only)
    KEYS[12]     recoveries                        payload SHA-1 -> times the job was recovered
    KEYS[13]     queueStats                        per-queue counters: processed:<queue>, busy_ms:<queue>
    KEYS[14...]  queue(name)                       the queue lists, one per name in ARGV[9...], in the same order

    ARGV[1]      field                             the slot of the finished job
    ARGV[2]      outcome                           'ok' | 'failed' | 'retry'
    ARGV[3]      record                            'failed': the failure JSON, appended to `failed`;
                                                   'retry': the payload scheduled at the retry time
    ARGV[4]      retry_ts                          the retry time, in s
    ARGV[5]      run_at                            for the next job (see reserve.lua)
    ARGV[6]      next field                        the slot to take the next job under
    ARGV[7]      min_left                          for the next job (see take in _lib.lua)
    ARGV[8]      duration_ms                       how long the finished job ran, added to busy_ms:<queue>
    ARGV[9...]   queue names                       in priority order (none: take nothing)

  Output:
    {held, queue, payload}, or {held} when nothing was taken. held is 0 when the slot no longer held the job
    (it was handed back after a lost heartbeat, so it will run again and this finish is not counted).
]]
local k = { inflight = KEYS[1], running = KEYS[2], worker = KEYS[3] }
local slot, outcome, record, retry_ts, run_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local queues = queue_lists(14, 9)
local entry = redis.call('HGET', k.inflight, slot)
local held = 0
if entry then
  held = 1
  local e = read_entry(entry, slot)
  redis.call('HDEL', k.inflight, slot)
  if redis.call('HINCRBY', k.running, e.queue, -1) <= 0 then
    redis.call('HDEL', k.running, e.queue)
  end
  -- A job that ends forgets how often it was recovered. Hashing the payload costs only while some job has
  -- been recovered and not ended.
  if redis.call('HLEN', KEYS[12]) > 0 then redis.call('HDEL', KEYS[12], redis.sha1hex(string.sub(entry, e.at))) end
  redis.call('INCR', KEYS[4])
  redis.call('INCR', KEYS[5])
  -- Counted here, in the round trip the worker makes anyway, so that the operator's rate estimates cost
  -- workers no write of their own.
  redis.call('HINCRBY', KEYS[13], 'processed:' .. e.queue, 1)
  redis.call('HINCRBY', KEYS[13], 'busy_ms:' .. e.queue, math.max(0, math.floor(tonumber(ARGV[8]) or 0)))
  if outcome == 'failed' then
    redis.call('RPUSH', KEYS[8], record)
    redis.call('INCR', KEYS[6])
    redis.call('INCR', KEYS[7])
  elseif outcome == 'retry' then
    redis.call('RPUSH', KEYS[10], record)
    redis.call('SADD', KEYS[11], 'delayed:' .. retry_ts)
    redis.call('ZADD', KEYS[9], retry_ts, retry_ts)
  end
end

local next_job = false
if #queues > 0 then next_job = take(k, ARGV[6], run_at, queues, tonumber(ARGV[7])) end
if not next_job then
  -- Resque shows one running job per worker: show another held job, or none.
  local others = redis.call('HKEYS', k.inflight)
  if #others > 0 then
    local other = redis.call('HGET', k.inflight, others[1])
    local o = read_entry(other, others[1])
    redis.call('SET', k.worker, running_job(o.queue, string.sub(other, o.at), run_at))
  else
    redis.call('DEL', k.worker)
  end
  return { held }
end
return { held, next_job[1], next_job[2] }
