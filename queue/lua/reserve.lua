--[[
  Take one job for a worker: LPOP in queue-priority order into the worker's in-flight hash under the given
  field, atomically, so that a worker killed at any moment leaves its job recoverable.

  Input:
    KEYS[1]     inflight(worker)   the jobs the worker holds
    KEYS[2]     running            jobs held in flight, per queue
    KEYS[3]     worker(worker)     the job the worker shows running (Resque's)
    KEYS[4...]  queue(name)        the queue lists, one per name in ARGV[4...], in the same order

    ARGV[1]     field              the slot the job is held under
    ARGV[2]     run_at             ISO 8601, or '' for now by Redis's clock
    ARGV[3]     min_left           0, or > 0 for a take-ahead (see take in _lib.lua)
    ARGV[4...]  queue names        in priority order

  Output:
    {queue, payload}, or nil when nothing was taken
]]
local queues = queue_lists(4, 4)
return take({ inflight = KEYS[1], running = KEYS[2], worker = KEYS[3] }, ARGV[1], ARGV[2], queues, tonumber(ARGV[3]))
