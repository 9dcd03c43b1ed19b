-- Record that a worker is alive: forkpool's liveness zset (Redis server time, immune to clock skew between
-- hosts) and Resque's heartbeat hash, which resque-web reads.
-- ARGV: namespace, worker id, heartbeat time as Resque writes it (ISO 8601). Returns the server time in ms.
local now = now_ms()
redis.call('ZADD', ARGV[1] .. ':forkpool:alive', now, ARGV[2])
redis.call('HSET', ARGV[1] .. ':workers:heartbeat', ARGV[2], ARGV[3])
return now
