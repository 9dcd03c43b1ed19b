--[[
  Retry one failure as Resque::Failure.requeue does, named by where it was seen and the SHA-1 of its exact
  bytes: its record becomes the caller's copy marked retried_at, and its job goes to the tail of its queue.
  The caller builds both from the failure's bytes; that the item still has those bytes is checked here, so a
  list that shifted since still retries that failure, and one that is gone (or changed) retries nothing.

  Input:
    KEYS[1]      failed         failure records
    KEYS[2]      queues         queue names (Resque's)
    KEYS[3]      queue(name)    the queue the job goes back to

    ARGV[1]      index          where the caller saw the failure, 0 first
    ARGV[2]      sha            SHA-1 of the failure's bytes, lower-case hex
    ARGV[3]      record         the failure marked retried_at
    ARGV[4]      queue          the queue's name
    ARGV[5]      payload        the job to enqueue

  Output:
    the index of the failure retried, or nil when no failure has that SHA-1.
]]
local at = find_by_sha(KEYS[1], tonumber(ARGV[1]), ARGV[2])
if not at then return false end
redis.call('LSET', KEYS[1], at, ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[5])
return at
