-- PATCH /api/todos/{id} with a random id in 1..ROWS and the body of the Feathers script patch.lua.
local ROWS = 10000
local BODY = '{"completed":true,"order":7}'
function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 1000)
end
function request()
  return wrk.format("PATCH", "/api/todos/" .. math.random(1, ROWS), { ["Content-Type"] = "application/json" }, BODY)
end
