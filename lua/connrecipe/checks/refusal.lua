-- Refused although a listener should accept, and nothing that was read
-- explains it: no reject rule, no device binding, room in the queue. No
-- cause is claimed without evidence: the finding says what was checked and
-- what is left (eBPF programs, tc filters, security modules), which
-- connrecipe does not read.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"
local backlog = require "connrecipe.checks.backlog"

local check = { ids = { "refused-unexplained" } }

local function firewall_line(facts)
  if not facts.firewall then
    return "not checked: the nft and iptables rules were not read"
  end
  return "checked: no nft or iptables rule rejects it"
end

local function device_line(s, l)
  if l.dev_unknown then
    return "not checked: whether the listener is bound to a device (SO_BINDTODEVICE): the socket table came from "
      .. "/proc/net, which does not show it"
  elseif l.dev then
    return ("checked: the listener is bound to %s, the device the connection arrives on"):format(l.dev)
  end
  return ("checked: the listener is bound to no device (sock_diag), so it takes connections arriving on %s"):format(
    s.arrives_on or "any device")
end

-- What the VRF facts (read for this refusal) said, or nil when not read.
local function vrf_line(facts)
  local vrf = facts.vrf
  if not vrf then
    return nil
  elseif vrf.error then
    return "not checked: VRFs (" .. vrf.error .. ")"
  end
  return ("checked: VRFs: this client is in %s, and the listener takes its connections"):format(
    vrf.client and ("VRF " .. vrf.client) or "the default VRF")
end

local function queue_line(l)
  if l.drops ~= nil or l.sendq > 0 then
    return ("checked: its accept queue has room (%d waiting, limit %d)"):format(l.recvq, l.sendq)
  end
  return ("checked: %d connection(s) wait in its accept queue (limit unknown: read from /proc/net)"):format(l.recvq)
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and not s.any_open and s.here_is_local and s.r.status == "refused" and #s.accepting > 0) then
    return
  end
  local fw = facts.firewall or {}
  if fw.error or #situation.firewall_hits(facts, { reject = true }) > 0 or #s.bound_away > 0 or s.vrf
    or backlog.overflowing(facts, s) then
    return -- connrecipe.checks.firewall, .device, .vrf or .backlog names the cause
  end
  local l, dev = s.accepting[1], s.arrives_on or "lo"
  local ruled_out = {}
  if facts.firewall then
    ruled_out[#ruled_out + 1] = "firewall rule"
  end
  if not l.dev_unknown then
    ruled_out[#ruled_out + 1] = "device binding"
  end
  ruled_out[#ruled_out + 1] = "full queue"
  local evidence = { describe.listener(l), firewall_line(facts), device_line(s, l) }
  evidence[#evidence + 1] = vrf_line(facts)
  evidence[#evidence + 1] = queue_line(l)
  evidence[#evidence + 1] = ("not checked: cgroup eBPF programs (connect and ingress hooks), tc and XDP programs on "
    .. "%s, security modules' network rules (SELinux, AppArmor)"):format(dev)
  ctx:finding {
    id = "refused-unexplained", severity = "error",
    summary = ("%s is refused although %s listens there, and nothing connrecipe read explains it (no %s)"):format(
      address.endpoint(s.r.addr, s.port), describe.holders(l.processes) or "a process", table.concat(ruled_out, ", ")),
    evidence = evidence,
    fix = ("look at what was not checked: bpftool cgroup tree; tc filter show dev %s ingress; ip link show %s "
      .. "(xdp); the kernel log for denials (journalctl -k | grep -i -e denied -e apparmor)"):format(dev, dev),
  }
end

return check
