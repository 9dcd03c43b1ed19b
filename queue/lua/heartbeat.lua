--[[
  Record that a worker is alive: forkpool's liveness zset (Redis server time, immune to clock skew between
  hosts), and Resque's registration and heartbeat, which resque-web reads. Registering on every beat means a
  Redis that lost its data (restarted without persistence) sees the worker again within one interval.

  Input:
    KEYS[1]  alive                   worker -> last heartbeat in ms (forkpool's)
    KEYS[2]  workers                 registered workers (Resque's)
    KEYS[3]  workerStarted(worker)   when the worker started (Resque's)
    KEYS[4]  heartbeats              worker -> last heartbeat (Resque's)

    ARGV[1]  worker                  the worker id
    ARGV[2]  heartbeat               as Resque writes it (ISO 8601)
    ARGV[3]  started                 the start time, as Resque writes it

  Output:
    the server time in ms
]]
local worker = ARGV[1]
local now = now_ms()
redis.call('ZADD', KEYS[1], now, worker)
redis.call('SADD', KEYS[2], worker)
redis.call('SET', KEYS[3], ARGV[3], 'NX')
redis.call('HSET', KEYS[4], worker, ARGV[2])
return now
