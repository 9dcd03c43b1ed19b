--[[
  Move resque-scheduler's due delayed jobs to the end of their queues, as its scheduler does. An item is
  pushed unchanged (its extra "queue" key is ignored by Resque and forkpool workers alike), so arguments
  keep their exact bytes. An item with no readable queue becomes a failure record instead of being lost.
  An item's queue and index entry are keys named by its content: the caller reads the due lists' first
  items, and the script moves them only if each list still starts with them; else it moves nothing (another
  mover, resque-scheduler's too, or a removal got there first) and the caller reads again.

  Input:
    KEYS[1]     delayedSchedule          timestamps of delayed jobs (resque-scheduler's)
    KEYS[2]     queues                   queue names (Resque's)
    KEYS[3]     stat('failed')
    KEYS[4...]  per due timestamp, in ARGV's order:
                delayed(ts)              its delayed jobs
                then per item to move from it:
                timestamps(item)         the item's entry in resque-scheduler's index
                queue(name) or failed    where it goes: its queue, or the failure records when it names none

    ARGV[1]     failed_at                for failure records (Resque's format)
    ARGV[2]     mover                    for failure records: who moved the item
    ARGV[3...]  per due timestamp:
                ts
                n                        how many of its first items to move
                then per item, n times:
                item                     the item's bytes, as read
                name                     its queue, '' when it names none

  Output:
    the number moved, or -1 when a list no longer starts with the items given (nothing moved)
]]
local failed_at, mover = ARGV[1], ARGV[2]
local due = {}
local ki, ai = 4, 3
while ai <= #ARGV do
  local d = { ts = ARGV[ai], list = KEYS[ki], items = {} }
  local n = tonumber(ARGV[ai + 1])
  ki, ai = ki + 1, ai + 2
  for _ = 1, n do
    table.insert(d.items, { payload = ARGV[ai], queue = ARGV[ai + 1], index = KEYS[ki], to = KEYS[ki + 1] })
    ki, ai = ki + 2, ai + 2
  end
  table.insert(due, d)
end
if ki - 1 ~= #KEYS then error('move-due was given ' .. #KEYS .. ' keys for ' .. (ki - 1) .. ' named in ARGV') end

for _, d in ipairs(due) do
  if #d.items > 0 then
    local head = redis.call('LRANGE', d.list, 0, #d.items - 1)
    if #head < #d.items then return -1 end
    for i, item in ipairs(d.items) do
      if head[i] ~= item.payload then return -1 end
    end
  end
end

local moved = 0
for _, d in ipairs(due) do
  for _, item in ipairs(d.items) do
    redis.call('LPOP', d.list)
    redis.call('SREM', item.index, 'delayed:' .. d.ts)
    if item.queue ~= '' then
      redis.call('RPUSH', item.to, item.payload)
      redis.call('SADD', KEYS[2], item.queue)
    else
      redis.call('RPUSH', item.to, '{"failed_at":' .. cjson.encode(failed_at) .. ',"payload":' ..
        cjson.encode(item.payload) .. ',"exception":"Forkpool::MalformedPayload","error":' ..
        cjson.encode('delayed job at ' .. d.ts .. ' has no "queue": ' .. string.sub(item.payload, 1, 200)) ..
        ',"backtrace":[],"worker":' .. cjson.encode(mover) .. ',"queue":null}')
      redis.call('INCR', KEYS[3])
    end
    moved = moved + 1
  end
  if redis.call('LLEN', d.list) == 0 then
    redis.call('DEL', d.list)
    redis.call('ZREM', KEYS[1], d.ts)
  end
end
return moved
