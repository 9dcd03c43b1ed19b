--[[
  Remove one item of a list (a failure, or a job waiting in a queue) named by where it was seen and the SHA-1
  of its exact bytes: a list that shifted since (items removed or pushed before it) still loses that item,
  and an item that is gone (retried and so changed, or removed by another) leaves the list alone.

  Input:
    KEYS[1]      failed or queue(name)   the list

    ARGV[1]      index                   where the caller saw the item, 0 first
    ARGV[2]      sha                     SHA-1 of the item's bytes, lower-case hex

  Output:
    the index the item was removed from, or nil when no item of the list has that SHA-1.
]]
local at = find_by_sha(KEYS[1], tonumber(ARGV[1]), ARGV[2])
if not at then return false end
remove_at(KEYS[1], at)
return at
