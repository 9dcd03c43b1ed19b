--[[
  Hand back the in-flight jobs of a worker whose heartbeat is older than the timeout, to the head of their
  queues, and unregister the worker as Resque's prune_dead_workers would. The caller lists the expired
  workers first and calls this for each: the check is made again here, so a worker that beat since, or that
  another worker has already handed back, is left alone, and each held job goes back exactly once. The job a
  slot was running is counted as recovered; past max_recoveries it becomes a Forkpool::PoisonJob failure
  instead of going back (see hand_back in _lib.lua).

  Input:
    KEYS[1]      alive                             worker -> last heartbeat in ms (forkpool's)
    KEYS[2]      workers                           registered workers (Resque's)
    KEYS[3]      heartbeats                        worker -> last heartbeat (Resque's)
    KEYS[4]      worker(worker)                    the job the worker shows running (Resque's)
    KEYS[5]      workerStarted(worker)             when the worker started (Resque's)
    KEYS[6]      workerStat('processed', worker)   the worker's counters (Resque's)
    KEYS[7]      workerStat('failed', worker)
    KEYS[8]      inflight(worker)                  the jobs the worker holds
    KEYS[9]      running                           jobs held in flight, per queue
    KEYS[10]     queues                            queue names (Resque's)
    KEYS[11]     recoveries                        payload SHA-1 -> times the job was recovered
    KEYS[12]     failed                            failure records
    KEYS[13]     stat('failed')
    KEYS[14...]  queue(name)                       the lists of the held jobs' queues, one per name in ARGV[4...]

    ARGV[1]      worker                            the worker id
    ARGV[2]      timeout                           in ms
    ARGV[3]      max_recoveries                    MAX_RECOVERIES
    ARGV[4...]   queue names

  Output:
    {jobs handed back, jobs recorded as poison}; nil when the worker's heartbeat has not expired (or it is
    unregistered already); or, when a held job's queue is not among the names (the caller cannot know them
    before reading the in-flight hash), those queues' names and nothing done: call again with them.
]]
local worker, timeout = ARGV[1], tonumber(ARGV[2])
local beat = redis.call('ZSCORE', KEYS[1], worker)
if not beat or tonumber(beat) > now_ms() - timeout then return false end
local _, lists = queue_lists(14, 4)
local rec = {
  counts = KEYS[11], failed = KEYS[12], failed_stat = KEYS[13], max = tonumber(ARGV[3]), worker = worker,
  how = 'its worker died while running it',
}
local done, missing = hand_back({ inflight = KEYS[8], running = KEYS[9], queues = KEYS[10] }, lists, {}, rec)
if not done then return missing end
redis.call('ZREM', KEYS[1], worker)
redis.call('SREM', KEYS[2], worker)
redis.call('HDEL', KEYS[3], worker)
redis.call('DEL', KEYS[4], KEYS[5], KEYS[6], KEYS[7])
return { done.handed, done.poisoned }
