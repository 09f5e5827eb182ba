-- Nothing listens here, but a listener on the port in another network
-- namespace (a container) does.
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = { ids = { "other-netns" } }

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and not s.any_open and s.here_is_local and s.r.status == "refused" and #s.accepting == 0
      and #s.same_family == 0 and #s.other_family == 0 and #s.elsewhere_on_port > 0) then
    return
  end
  local found = s.elsewhere_on_port
  local known = facts.containers and facts.containers.list
  local evidence = {}
  for _, l in ipairs(found) do
    evidence[#evidence + 1] = describe.listener(l) .. " in " .. describe.netns_of(l, known)
  end
  local l = found[1]
  ctx:finding {
    id = "other-netns", severity = "error",
    summary = ("nothing listens on port %d here, but %s listens on it in another network namespace (%s)"):format(
      s.port, describe.holders(l.processes) or "a process", describe.netns_of(l, known)),
    evidence = evidence,
    fix = l.netns_name
      and ("connect from inside it: ip netns exec %s ..., or publish the port here"):format(l.netns_name)
      or "connect from inside that namespace (nsenter -t PID -n ...), or publish the port "
        .. "(e.g. docker run -p HOST:CONTAINER)",
  }
end

return check
