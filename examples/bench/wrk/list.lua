-- GET /api/todos?limit=20: the first page of 20 (Feathers' script sends ?$limit=20).
function request()
  return wrk.format("GET", "/api/todos?limit=20")
end
