-- What connect() itself said, when no listener, rule or queue explains it:
-- no local port or no IPv6 (EADDRNOTAVAIL), a reset, a timeout, an ICMP
-- error, any other errno.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"
local backlog = require "connrecipe.checks.backlog"
local firewall = require("connrecipe.lazy").require "connrecipe.checks.firewall" -- only when this check needs it

local check = {
  ids = { "ipv6-disabled", "ephemeral-ports-exhausted", "connection-reset", "timeout", "permission-denied",
          "host-unreachable", "probe-error" },
}

local function ipv6_or_ports(ctx, facts, s)
  local r, where = s.r, address.endpoint(s.r.addr, s.port)
  local ipv6 = facts.ipv6
  if r.family == "inet6" and ipv6 and ipv6.enabled == false then
    return ctx:finding {
      id = "ipv6-disabled", severity = "error",
      summary = ("%s is IPv6 but IPv6 is disabled here (%s)"):format(where, tostring(ipv6.why)),
      fix = "connect over IPv4 (127.0.0.1), or enable IPv6: sysctl -w net.ipv6.conf.all.disable_ipv6=0",
    }
  end
  local range = facts.port_range or {}
  local evidence = { range.error and ("ip_local_port_range could not be read (%s)"):format(range.error)
    or ("ip_local_port_range %s-%s, %s usable"):format(tostring(range.first), tostring(range.last),
      tostring(range.available)) }
  if r.family == "inet6" and ipv6 and ipv6.error then
    evidence[#evidence + 1] = ("whether IPv6 is enabled could not be read (%s)"):format(ipv6.error)
  end
  ctx:finding {
    id = "ephemeral-ports-exhausted", severity = "error",
    summary = ("no local port is free to connect to %s (EADDRNOTAVAIL)"):format(where),
    evidence = evidence,
    fix = "close idle connections (ss -tan state time-wait | wc -l), reuse connections, or widen "
      .. "net.ipv4.ip_local_port_range",
  }
end

local function reset(ctx, s)
  local l = s.here_is_local and s.accepting[1]
  ctx:finding {
    id = "connection-reset", severity = "error",
    summary = ("%s accepted and reset the connection at once"):format(address.endpoint(s.r.addr, s.port)),
    evidence = l and { describe.listener(l) } or nil,
    fix = "the server closes new connections: check its logs (connection limits, TLS/protocol errors)",
  }
end

local function timeout(ctx, facts, s)
  if #firewall.hits(facts, { drop = true }) > 0 then
    return -- connrecipe.checks.firewall names the rule
  end
  local where, l = address.endpoint(s.r.addr, s.port), s.accepting[1]
  if not l then
    return ctx:finding { id = "timeout", severity = "error",
                         summary = ("%s did not answer within %g s"):format(where, s.timeout) }
  elseif backlog.overflowing(facts, s) then
    return -- connrecipe.checks.backlog names it
  end
  local unread, needs_root = firewall.unread(facts)
  ctx:finding {
    id = "timeout", severity = "error",
    summary = ("%s did not answer within %g s although %s listens with room in its queue"):format(
      where, s.timeout, describe.holders(l.processes) or "a process"),
    evidence = { describe.listener(l), ("accept queue %d of %d"):format(l.recvq, l.sendq) },
    fix = unread
        and ("the firewall rules could not be read (%s): %s"):format(unread, firewall.unread_fix(s, needs_root))
      or "no firewall rule drops it: look at tc qdiscs, eBPF programs, or a saturated host (ss -ti, nstat)",
  }
end

local function icmp_error(ctx, facts, s)
  if #firewall.hits(facts, { reject = true, drop = true }) > 0 then
    return -- connrecipe.checks.firewall names the rule
  end
  local r, unread = s.r, firewall.unread(facts)
  ctx:finding {
    id = r.status == "denied" and "permission-denied" or "host-unreachable", severity = "error",
    summary = ("connecting to %s fails with %s"):format(address.endpoint(r.addr, s.port), tostring(r.errno)),
    evidence = { unread and ("the nft/iptables rules could not be read (%s)"):format(unread)
      or "no matching rule in nft or iptables" },
  }
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not s or s.any_open then
    return
  end
  local status = s.r.status
  if status == "addr-unavailable" then
    return ipv6_or_ports(ctx, facts, s)
  elseif status == "reset" then
    return reset(ctx, s)
  elseif not s.here_is_local then
    return -- connrecipe.checks.remote
  elseif status == "timeout" then
    return timeout(ctx, facts, s)
  elseif status == "unreachable" or status == "denied" then
    return icmp_error(ctx, facts, s)
  elseif status ~= "refused" then
    ctx:finding { id = "probe-error", severity = "error",
                  summary = ("connecting to %s failed: %s"):format(address.endpoint(s.r.addr, s.port),
                    tostring(s.r.errno)) }
  end
end

return check
