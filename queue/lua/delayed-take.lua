--[[
  Take one delayed job out of resque-scheduler's delayed set, as its remove_delayed does (the list of its
  timestamp, its entry in the job's timestamps set, the timestamp itself once its list is empty), and either
  enqueue it now, at the tail of its queue, or drop it. The job is named by its exact bytes, so one that the
  scheduler moved (or another user took) in the meantime is left alone.

  Input:
    KEYS[1]      delayedSchedule      timestamps that have delayed jobs
    KEYS[2]      delayed(ts)          the jobs due at the timestamp
    KEYS[3]      timestamps(payload)  the `delayed:<ts>` entries of this job
    KEYS[4...]   queues               to enqueue it: queue names (Resque's), then
                 queue(name)          the job's queue

    ARGV[1]      ts                   the timestamp, seconds since the epoch
    ARGV[2]      payload              the job's exact bytes
    ARGV[3]      queue                its queue's name, to enqueue it; empty to drop it

  Output:
    1 when the job was taken, 0 when it is no longer due at that timestamp.
]]
if redis.call('LREM', KEYS[2], 1, ARGV[2]) == 0 then return 0 end
if redis.call('LPOS', KEYS[2], ARGV[2]) == false then redis.call('SREM', KEYS[3], 'delayed:' .. ARGV[1]) end
if redis.call('LLEN', KEYS[2]) == 0 then redis.call('ZREM', KEYS[1], ARGV[1]) end
if ARGV[3] ~= '' then
  redis.call('SADD', KEYS[4], ARGV[3])
  redis.call('RPUSH', KEYS[5], ARGV[2])
end
return 1
