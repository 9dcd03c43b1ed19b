-- Record that a worker is alive: forkpool's liveness zset (Redis server time, immune to clock skew between
-- hosts), and Resque's registration and heartbeat, which resque-web reads. Registering on every beat means a
-- Redis that lost its data (restarted without persistence) sees the worker again within one interval.
-- ARGV: namespace, worker id, heartbeat time as Resque writes it (ISO 8601), start time as Resque writes it.
-- Returns the server time in ms.
local ns, worker = ARGV[1], ARGV[2]
local now = now_ms()
redis.call('ZADD', ns .. ':forkpool:alive', now, worker)
redis.call('SADD', ns .. ':workers', worker)
redis.call('SET', ns .. ':worker:' .. worker .. ':started', ARGV[4], 'NX')
redis.call('HSET', ns .. ':workers:heartbeat', worker, ARGV[3])
return now
