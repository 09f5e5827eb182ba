-- VRFs (Linux's virtual routing and forwarding: `ip link add vrf-blue type
-- vrf table 10`) split one namespace's sockets into routing domains. A
-- listener bound to a VRF device (SO_BINDTODEVICE=vrf-blue, or started
-- under `ip vrf exec vrf-blue`; ss shows "0.0.0.0%vrf-blue:80") takes only
-- connections from inside that VRF; one bound to no device takes only the
-- default VRF's unless net.ipv4.tcp_l3mdev_accept=1. The kernel refuses the
-- rest with a reset, as if nothing listened. Which VRF this client is in is
-- the device its own new sockets come bound to (`ip vrf exec` binds them).
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = {
  ids = { "bound-to-vrf", "client-in-vrf" },
  needs = "vrf", -- without facts.vrf run finds nothing (checklist.lazy: not even loaded then)
}

-- "vrf-blue is a VRF device (routing table 10; member interfaces: veth0)"
local function vrf_line(vrf, name)
  local d = vrf.devices[name] or {}
  local members = {}
  for dev, m in pairs(vrf.devices) do
    if m.master == name then
      members[#members + 1] = dev
    end
  end
  table.sort(members)
  return ("%s is a VRF device (routing table %s; %s)"):format(name, d.vrf_table and tostring(d.vrf_table) or "unknown",
    #members > 0 and ("member interfaces: " .. table.concat(members, ", ")) or "no member interface")
end

local function client_line(vrf, client)
  if vrf.client_error then
    return "this client's VRF is unknown: " .. vrf.client_error
  elseif client then
    return ("this client's sockets come bound to %s (ip vrf exec %s): it is in VRF %s"):format(client, client, client)
  end
  return "this client's sockets come bound to no device: it is in the default VRF"
end

-- "net.ipv4.tcp_l3mdev_accept = 0", or why it is unknown
local function sysctl_line(vrf)
  if vrf.l3mdev_accept == nil then
    return ("net.ipv4.tcp_l3mdev_accept: unread (%s)"):format(vrf.l3mdev_accept_error or "?")
  end
  return ("net.ipv4.tcp_l3mdev_accept = %s: a listener bound to no device takes connections from %s"):format(
    tostring(vrf.l3mdev_accept), vrf.l3mdev_accept == 1 and "every VRF" or "the default VRF only")
end

-- The sysctl's part of a fix: set it, or it is already set.
local function sysctl_fix(vrf)
  if vrf.l3mdev_accept == 1 then
    return "(net.ipv4.tcp_l3mdev_accept is already 1)"
  end
  return ("and set net.ipv4.tcp_l3mdev_accept=1 (now %s): sysctl -w net.ipv4.tcp_l3mdev_accept=1"):format(
    vrf.l3mdev_accept ~= nil and tostring(vrf.l3mdev_accept) or "unread")
end

local function in_vrf_finding(ctx, s, vrf, v)
  local l, where = v.listener, address.endpoint(s.r.addr, s.port)
  local who = describe.holders(l.processes) or "a process"
  ctx:finding {
    id = "bound-to-vrf", severity = "error",
    summary = ("%s is refused: %s listens in VRF %s (bound to the VRF device %s) and takes only connections from "
      .. "inside it; this client is in %s"):format(where, who, v.listener_vrf, v.listener_vrf,
        v.client_vrf and ("VRF " .. v.client_vrf) or "the default VRF"),
    evidence = { describe.listener(l), vrf_line(vrf, v.listener_vrf), client_line(vrf, v.client_vrf),
                 sysctl_line(vrf) },
    fix = ("run the client in the VRF: ip vrf exec %s CMD (this check: ip vrf exec %s connrecipe diagnose %s); or "
      .. "run the service bound to no device %s, so that it takes connections from every VRF"):format(
        v.listener_vrf, v.listener_vrf, s.target.display, sysctl_fix(vrf)),
  }
end

local function client_finding(ctx, s, vrf, v)
  local l, where = v.listener, address.endpoint(s.r.addr, s.port)
  local who = describe.holders(l.processes) or "a process"
  ctx:finding {
    id = "client-in-vrf", severity = "error",
    summary = ("%s is refused: this client runs in VRF %s and %s listens in the default VRF (bound to no device), "
      .. "which with net.ipv4.tcp_l3mdev_accept = %s takes only default-VRF connections"):format(where,
        v.client_vrf, who, tostring(vrf.l3mdev_accept)),
    evidence = { describe.listener(l), client_line(vrf, v.client_vrf), vrf_line(vrf, v.client_vrf),
                 sysctl_line(vrf) },
    fix = ("set net.ipv4.tcp_l3mdev_accept=1 (now %s: sysctl -w net.ipv4.tcp_l3mdev_accept=1) so that listeners "
      .. "bound to no device take connections from every VRF; or run the client outside VRF %s (without ip vrf "
      .. "exec); or run the service in it too (ip vrf exec %s SERVICE)"):format(tostring(vrf.l3mdev_accept),
        v.client_vrf, v.client_vrf),
  }
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  local v = s and s.vrf
  if not v then
    return
  end
  if v.listener_vrf then
    return in_vrf_finding(ctx, s, facts.vrf, v)
  end
  return client_finding(ctx, s, facts.vrf, v)
end

return check
