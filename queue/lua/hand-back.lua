--[[
  Put a live worker's in-flight jobs back at the head of their queues (shutdown past the grace period).

  Input:
    KEYS[1]         inflight(worker)   the jobs the worker holds
    KEYS[2]         running            jobs held in flight, per queue
    KEYS[3]         queues             queue names (Resque's)
    KEYS[4]         worker(worker)     the job the worker shows running (Resque's)
    KEYS[5...]      queue(name)        the lists of the held jobs' queues, one per name in ARGV[n + 2...]

    ARGV[1]         n                  how many fields follow (0: every held job)
    ARGV[2...]      fields             the slots to hand back, n of them
    ARGV[n + 2...]  queue names

  Output:
    the number of jobs handed back, or, when a held job's queue is not among the names (the caller cannot
    know them before reading the in-flight hash), those queues' names and nothing done: call again with them.
]]
local n = tonumber(ARGV[1])
local slots = {}
for i = 2, n + 1 do slots[#slots + 1] = ARGV[i] end
local _, lists = queue_lists(5, n + 2)
local done, missing = hand_back({ inflight = KEYS[1], running = KEYS[2], queues = KEYS[3] }, lists, slots)
if not done then return missing end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[4]) end
return done.handed
