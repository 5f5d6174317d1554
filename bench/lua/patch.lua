-- PATCH /tasks/{id} of one of the user's own tasks; the title is new every time, so each is a real write.
function request()
   local user, round = next_pick()
   local body = string.format('{"title":"Patched by wrk %d","description":"round %d"}', counter, round)
   return wrk.format("PATCH", "/tasks/" .. own_id(user, round), headers_for(user, true), body)
end
