-- POST /api/todos with the same 62-byte JSON body as the Feathers script post.lua.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"write the bench report","completed":false,"order":3}'
