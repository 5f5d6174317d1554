-- POST /tasks with a JSON body.
local statuses_cycle = { "todo", "in_progress", "completed" }
local priorities_cycle = { "low", "medium", "high" }

function request()
   local user, round = next_pick()
   local body = string.format(
      '{"title":"Created by wrk %d","description":"round %d","status":"%s","priority":"%s",'
         .. '"due_date":"2027-01-%02dT12:00:00Z"}',
      counter, round, statuses_cycle[round % 3 + 1], priorities_cycle[counter % 3 + 1], round % 28 + 1
   )
   return wrk.format("POST", "/tasks", headers_for(user, true), body)
end
