-- Put a live worker's in-flight jobs back at the head of their queues (shutdown past the grace period).
-- ARGV: namespace, worker id, fields... (none: every held job). Returns the number of jobs handed back.
local slots = {}
for i = 3, #ARGV do slots[#slots + 1] = ARGV[i] end
local n = hand_back(ARGV[1], ARGV[2], slots)
if redis.call('HLEN', ARGV[1] .. ':forkpool:inflight:' .. ARGV[2]) == 0 then
  redis.call('DEL', ARGV[1] .. ':worker:' .. ARGV[2])
end
return n
