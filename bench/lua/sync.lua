-- GET /sync with a cursor 20 changes behind: the user's changed tasks, whole (bench/seed.py prepare_sync).
function request()
   local user = next_pick()
   return wrk.format("GET", "/sync?cursor=" .. cursors[user], headers_for(user, false))
end
