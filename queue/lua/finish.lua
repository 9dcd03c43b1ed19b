-- Finish a job a worker holds and, in the same round trip, take the next one.
-- ARGV: namespace, worker id, field of the finished job, outcome ('ok' | 'failed' | 'retry'), record,
--       retry timestamp (s), run_at for the next job, field for the next job, min_left for it (see take),
--       queue names in priority order (none: take nothing)...
-- 'failed': record is the failure JSON, appended to `failed`; 'retry': record is the payload scheduled
-- in resque-scheduler's delayed set at the retry timestamp.
-- Returns {held, queue, payload}: held is 0 when the slot no longer held the job (it was handed back
-- after a lost heartbeat, so it will run again and this finish is not counted).
local ns, worker, slot, outcome, record, retry_ts, run_at = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local inflight = ns .. ':forkpool:inflight:' .. worker
local entry = redis.call('HGET', inflight, slot)
local held = 0
if entry then
  held = 1
  local e = cjson.decode(entry)
  redis.call('HDEL', inflight, slot)
  if redis.call('HINCRBY', ns .. ':forkpool:running', e.queue, -1) <= 0 then
    redis.call('HDEL', ns .. ':forkpool:running', e.queue)
  end
  redis.call('INCR', ns .. ':stat:processed')
  redis.call('INCR', ns .. ':stat:processed:' .. worker)
  if outcome == 'failed' then
    redis.call('RPUSH', ns .. ':failed', record)
    redis.call('INCR', ns .. ':stat:failed')
    redis.call('INCR', ns .. ':stat:failed:' .. worker)
  elseif outcome == 'retry' then
    redis.call('RPUSH', ns .. ':delayed:' .. retry_ts, record)
    redis.call('SADD', ns .. ':timestamps:' .. record, 'delayed:' .. retry_ts)
    redis.call('ZADD', ns .. ':delayed_queue_schedule', retry_ts, retry_ts)
  end
end

local queues = {}
for i = 10, #ARGV do queues[#queues + 1] = ARGV[i] end
local next_job = false
if #queues > 0 then next_job = take(ns, worker, ARGV[8], run_at, queues, tonumber(ARGV[9])) end
if not next_job then
  -- Resque shows one running job per worker: show another held job, or none.
  local others = redis.call('HVALS', inflight)
  if #others > 0 then
    local o = cjson.decode(others[1])
    redis.call('SET', ns .. ':worker:' .. worker, running_job(o.queue, o.payload, run_at))
  else
    redis.call('DEL', ns .. ':worker:' .. worker)
  end
  return { held }
end
return { held, next_job[1], next_job[2] }
