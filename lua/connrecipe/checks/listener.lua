-- Nothing listens on the target's TCP port in this namespace: a UDP socket
-- holds it (the service speaks UDP), or nothing at all; and a listener on a
-- port that looks like a typo of it.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local ports = require "connrecipe.ports"
local situation = require "connrecipe.checks.situation"

local check = { ids = { "udp-only", "no-listener", "port-mismatch" } }

--- One line per probed address: "127.0.0.1:8080: refused in 0.05 ms"
function check.probe_lines(s)
  local lines = {}
  for _, r in ipairs(s.results) do
    local took = r.ms and (" in %.2f ms"):format(r.ms) or ""
    lines[#lines + 1] = ("%s: %s%s"):format(address.endpoint(r.addr, s.port), r.status, took)
  end
  return lines
end

-- The UDP sockets that serve the target: where a TCP listener bound the same
-- way would accept it (its address, its family's wildcard, or a dual-stack
-- [::]); one bound elsewhere (127.0.0.2, ::1 for an IPv4 target) is evidence.
local function serving_udp(facts, s, evidence)
  local udp = {}
  local read = facts.udp or {}
  if read.error then
    evidence[#evidence + 1] = ("the UDP sockets on port %d could not be read (%s): whether one holds it is "
      .. "unknown"):format(s.port, read.error)
  end
  for _, sock in ipairs(read.list or {}) do
    local serves = false
    for _, r in ipairs(s.results) do
      serves = serves or address.accepts(sock, r.addr)
    end
    if serves then
      udp[#udp + 1] = sock
    else
      evidence[#evidence + 1] = ("UDP %s (bound elsewhere: does not serve the target address)"):format(
        describe.listener(sock))
    end
  end
  return udp
end

local function udp_only(ctx, s, udp, evidence)
  local t, u = s.target, udp[1]
  for _, sock in ipairs(udp) do
    evidence[#evidence + 1] = "UDP " .. describe.listener(sock)
  end
  local addr = address.is_wildcard(u.addr) and t.host or u.addr -- a socket bound to one address answers there only
  ctx:finding {
    id = "udp-only", severity = "error",
    summary = ("nothing listens on TCP port %d, but UDP port %d is bound by %s: the service speaks UDP, "
      .. "not TCP"):format(t.port, t.port, describe.holders(u.processes) or "a process (owner unknown)"),
    evidence = evidence,
    fix = ("talk to it over UDP (probe it: connrecipe -e 'print(cr.probe.udp(\"%s\", %d).status)'); "
      .. "if it should take TCP too, configure it to listen on TCP port %d"):format(addr, t.port, t.port),
  }
end

local function near_ports(ctx, facts, s)
  for _, l in ipairs(s.here) do
    if ports.near(s.port, l.port) then
      local evidence = { describe.listener(l) }
      local owner = l.processes and l.processes[1]
      for _, setting in ipairs(owner and (facts.port_settings or {})[tostring(owner.pid)] or {}) do
        evidence[#evidence + 1] = setting -- "--port 8081", "PORT=8081"
      end
      ctx:finding {
        id = "port-mismatch", severity = "warn",
        summary = ("port %d looks like a typo: %s"):format(s.port, describe.listener(l)),
        evidence = evidence,
        fix = ("if that is the service, connect to %s%s"):format(describe.with_port(s.target, l.port, l),
          l.dev and l.dev ~= s.arrives_on and (" over %s (it is bound to that device)"):format(l.dev) or ""),
      }
    end
  end
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and s.nothing_here) then
    return
  end
  if not s.gaps.own then -- else what listens is unknown: connrecipe.checks.gaps says so
    local evidence = check.probe_lines(s)
    local udp = serving_udp(facts, s, evidence)
    if #udp > 0 then
      udp_only(ctx, s, udp, evidence)
    else
      ctx:finding {
        id = "no-listener", severity = "error",
        summary = ("nothing listens on port %d (%s)"):format(s.port, #s.results > 1 and "any address" or
          s.results[1].addr),
        evidence = evidence,
        fix = ("start the service that should listen on %d, or point the client at the port it uses "
          .. "(connrecipe listeners.lua lists them)"):format(s.port),
      }
    end
  end
  near_ports(ctx, facts, s)
end

return check
