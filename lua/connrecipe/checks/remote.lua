-- A host that is not this one refused, did not answer, or is unreachable,
-- and no rule of ours explains it.
local address = require "connrecipe.address"
local situation = require "connrecipe.checks.situation"
local firewall = require("connrecipe.lazy").require "connrecipe.checks.firewall" -- only when this check needs it

local check = { ids = { "remote-refused", "remote-timeout", "host-unreachable", "probe-error" } }

local BY_STATUS = {
  refused = { id = "remote-refused",
              summary = "%s refused the connection: nothing listens there, or its firewall rejects it",
              fix = "check the service on that host (ss -tlnp there) and its firewall" },
  timeout = { id = "remote-timeout",
              summary = "%s did not answer within %g s: a firewall on the way drops the packets, or the host is down",
              fix = "check the remote firewall and security groups; traceroute -T -p PORT HOST" },
  unreachable = { id = "host-unreachable", summary = "%s is unreachable (%s): no route, or a router rejects it",
                  fix = "check routes (ip route get ADDR) and the network path" },
}
local OTHER = { id = "probe-error", summary = "connecting to %s failed (%s)" }

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not s or s.any_open or s.here_is_local then
    return
  end
  local r = s.r
  if r.status == "addr-unavailable" or r.status == "reset" then
    return -- connrecipe.checks.connect
  end
  if #firewall.hits(facts, { reject = true, drop = true }) > 0 then
    return -- connrecipe.checks.firewall names our own rule
  end
  local where = address.endpoint(r.addr, s.port)
  local entry = BY_STATUS[r.status] or OTHER
  ctx:finding {
    id = entry.id, severity = "error",
    summary = entry.summary:format(where, r.status == "timeout" and s.timeout or tostring(r.errno)),
    evidence = { ("%s: %s (%s)"):format(where, r.status, tostring(r.errno)) },
    fix = entry.fix,
  }
end

return check
