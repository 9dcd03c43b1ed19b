-- Take one job for a worker slot: LPOP in queue-priority order into the worker's in-flight hash, atomically,
-- so that a worker killed at any moment leaves its job recoverable.
-- ARGV: namespace, worker id, slot, run_at (ISO 8601), queue names in priority order...
-- Returns {queue, payload} or nil.
local queues = {}
for i = 5, #ARGV do queues[#queues + 1] = ARGV[i] end
return take(ARGV[1], ARGV[2], ARGV[3], ARGV[4], queues)
