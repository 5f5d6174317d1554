-- GET /tasks filtered by status and sorted by priority, highest first.
function request()
   local user = next_pick()
   return wrk.format("GET", "/tasks?status_filter=todo&sort=-priority&limit=20", headers_for(user, false))
end
