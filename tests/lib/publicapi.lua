-- The public functions of the connrecipe module, for the tests that keep the
-- docs and help() complete: "cr.probe.tcp" for every function reachable from
-- the module ("_" names and cr.cli excluded), "task:join" for a task's methods.
local publicapi = {}

function publicapi.functions()
  local cr = require "connrecipe"
  local names = {}
  local function walk(t, path, depth)
    for k, v in pairs(t) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" then
        if type(v) == "function" then
          names[#names + 1] = path .. "." .. k
        elseif type(v) == "table" and depth < 3 and k ~= "cli" then
          walk(v, path .. "." .. k, depth + 1)
        end
      end
    end
  end
  walk(cr, "cr", 1)
  for k, v in pairs(cr._task_methods) do
    if type(v) == "function" and k:sub(1, 1) ~= "_" then
      names[#names + 1] = "task:" .. k
    end
  end
  table.sort(names)
  return names
end

return publicapi
