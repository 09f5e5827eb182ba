-- The listener is bound to a network device (SO_BINDTODEVICE; ss shows
-- "0.0.0.0%eth0:80"): the kernel hands it only connections that arrive on
-- that device, and refuses the rest with a reset as if nothing listened. A
-- connection from this host arrives on the device that holds the address it
-- goes to (lo for 127.0.0.1).
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = { ids = { "bound-to-device" } }

-- This host's addresses on dev, sorted (facts.local_addrs maps address -> device).
local function addresses_on(facts, dev)
  local out = {}
  for addr, name in pairs(facts.local_addrs or {}) do
    if name == dev then
      out[#out + 1] = addr
    end
  end
  table.sort(out)
  return out
end

-- The target at an address of dev the listener accepts, or nil.
local function reachable_on(facts, l, port)
  for _, addr in ipairs(addresses_on(facts, l.dev)) do
    if address.accepts(l, addr) then
      return address.endpoint(addr, port)
    end
  end
end

-- The VRF the device is a member of (ip link set DEV master VRF), or nil:
-- its addresses are then routed in that VRF's table only, so a client
-- reaches them from inside the VRF.
local function vrf_of(facts, dev)
  local devices = facts.vrf and facts.vrf.devices or {}
  local master = devices[dev] and devices[dev].master
  local m = master and devices[master]
  if m and m.kind == "vrf" then
    return master, m.vrf_table
  end
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and not s.any_open and s.here_is_local and s.r.status == "refused" and #s.bound_away > 0) or s.vrf then
    -- (bound to a VRF device: connrecipe.checks.vrf says it in VRF terms)
    return
  end
  local l = s.bound_away[1]
  local where = address.endpoint(s.r.addr, s.port)
  local evidence = {}
  for _, b in ipairs(s.bound_away) do
    evidence[#evidence + 1] = describe.listener(b)
  end
  evidence[#evidence + 1] = ("%s is on %s: a connection to it from this host arrives on %s"):format(s.r.addr,
    s.arrives_on, s.arrives_on)
  local instead = reachable_on(facts, l, s.port)
  local vrf, tbl = vrf_of(facts, l.dev)
  local from_vrf = ""
  if vrf then
    evidence[#evidence + 1] = ("%s is a member of VRF %s (routing table %s): its addresses are routed in that VRF")
      :format(l.dev, vrf, tostring(tbl or "unknown"))
    from_vrf = (" from inside VRF %s (ip vrf exec %s CMD)"):format(vrf, vrf)
  end
  ctx:finding {
    id = "bound-to-device", severity = "error",
    summary = ("%s is refused: %s listens bound to device %s (SO_BINDTODEVICE) and takes only connections that "
      .. "arrive on %s; this one arrives on %s"):format(where, describe.holders(l.processes) or "a process", l.dev,
      l.dev, s.arrives_on),
    evidence = evidence,
    fix = ("%s, or make the server not bind to %s (its bind-to-interface setting, SO_BINDTODEVICE)"):format(
      instead and ("connect to %s (an address on %s)%s"):format(instead, l.dev, from_vrf)
        or ("connect over %s (from a host on its network)"):format(l.dev), l.dev),
  }
end

return check
