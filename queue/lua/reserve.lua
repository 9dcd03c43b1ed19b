-- Take one job for a worker: LPOP in queue-priority order into the worker's in-flight hash under the given
-- field, atomically, so that a worker killed at any moment leaves its job recoverable.
-- ARGV: namespace, worker id, field, run_at (ISO 8601, or '' for now by Redis's clock),
--       min_left (0, or > 0 for a take-ahead: see take), queue names in priority order...
-- Returns {queue, payload} or nil.
local queues = {}
for i = 6, #ARGV do queues[#queues + 1] = ARGV[i] end
return take(ARGV[1], ARGV[2], ARGV[3], ARGV[4], queues, tonumber(ARGV[5]))
