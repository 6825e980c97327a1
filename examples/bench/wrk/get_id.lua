-- GET /api/todos/{id} with a random id in 1..ROWS (the table is seeded with 10k rows).
-- Same load as the Feathers script get_id.lua, on our path.
local ROWS = 10000
function init(args)
  -- Seed per thread from the clock and the address of a fresh table, so threads differ.
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 1000)
end
function request()
  return wrk.format("GET", "/api/todos/" .. math.random(1, ROWS))
end
