-- GET /tasks/{id} of one of the user's own tasks.
function request()
   local user, round = next_pick()
   return wrk.format("GET", "/tasks/" .. own_id(user, round), headers_for(user, false))
end
