-- Move resque-scheduler's due delayed jobs to the end of their queues, as its scheduler does. An item is
-- pushed unchanged (its extra "queue" key is ignored by Resque and forkpool workers alike), so arguments
-- keep their exact bytes. An item with no readable queue becomes a failure record instead of being lost.
-- ARGV: namespace, max items to move, failed_at (Resque's format), mover id. Returns the number moved.
local ns, limit, failed_at, mover = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local schedule = ns .. ':delayed_queue_schedule'
local now = tonumber(redis.call('TIME')[1])
local due = redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, limit)
local moved = 0
for _, ts in ipairs(due) do
  local list = ns .. ':delayed:' .. ts
  while moved < limit do
    local item = redis.call('LPOP', list)
    if not item then break end
    redis.call('SREM', ns .. ':timestamps:' .. item, 'delayed:' .. ts)
    local ok, job = pcall(cjson.decode, item)
    local queue = ok and type(job) == 'table' and job.queue
    if type(queue) == 'string' and queue ~= '' then
      redis.call('RPUSH', ns .. ':queue:' .. queue, item)
      redis.call('SADD', ns .. ':queues', queue)
    else
      redis.call('RPUSH', ns .. ':failed', '{"failed_at":' .. cjson.encode(failed_at) .. ',"payload":' ..
        cjson.encode(item) .. ',"exception":"Forkpool::MalformedPayload","error":' ..
        cjson.encode('delayed job at ' .. ts .. ' has no "queue": ' .. string.sub(item, 1, 200)) ..
        ',"backtrace":[],"worker":' .. cjson.encode(mover) .. ',"queue":null}')
      redis.call('INCR', ns .. ':stat:failed')
    end
    moved = moved + 1
  end
  if redis.call('LLEN', list) == 0 then
    redis.call('DEL', list)
    redis.call('ZREM', schedule, ts)
  end
end
return moved
