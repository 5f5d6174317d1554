-- GET /tasks?limit=20: the newest page of the user's tasks.
function request()
   local user = next_pick()
   return wrk.format("GET", "/tasks?limit=20", headers_for(user, false))
end
