-- Hand back the in-flight jobs of every worker whose heartbeat is older than the timeout, to the head of
-- their queues, and unregister those workers as Resque's prune_dead_workers would.
-- ARGV: namespace, timeout in ms. Returns a flat list {worker, jobs handed back, ...}.
local ns, timeout = ARGV[1], tonumber(ARGV[2])
local alive = ns .. ':forkpool:alive'
local dead = redis.call('ZRANGEBYSCORE', alive, '-inf', now_ms() - timeout)
local out = {}
for _, worker in ipairs(dead) do
  local n = hand_back(ns, worker, {})
  redis.call('ZREM', alive, worker)
  redis.call('SREM', ns .. ':workers', worker)
  redis.call('HDEL', ns .. ':workers:heartbeat', worker)
  redis.call('DEL', ns .. ':worker:' .. worker, ns .. ':worker:' .. worker .. ':started',
    ns .. ':stat:processed:' .. worker, ns .. ':stat:failed:' .. worker)
  table.insert(out, worker)
  table.insert(out, n)
end
return out
