-- Removes what dead test runs left behind (testenv.sweep): run by ctest as
-- the cleanup fixture after the specs, and by hand as
--   lua5.4 tests/lib/sweep.lua
-- A live run's namespaces, processes, directories and reservations stay.
local dir = arg[0]:match("^(.*)/[^/]*$") or "."
package.path = dir .. "/?.lua;" .. package.path
local testenv = require "testenv"

local removed = testenv.sweep()
for _, what in ipairs({ "namespaces", "processes", "dirs", "reservations" }) do
  local list = removed[what]
  for i, v in ipairs(list) do
    list[i] = tostring(v)
  end
  print(("%s of dead runs removed: %d%s"):format(what, #list, #list > 0 and (" (" .. table.concat(list, ", ") .. ")")
    or ""))
end
