-- What the facts say about a TCP target, worked out once and shared by the
-- checks (and by investigate, to know which further facts are worth reading):
-- which probed address decides, whether it is this host, which listeners are
-- in our namespace, which would accept it, what the listener dump could not
-- read. Pure: reads only the facts table.
local address = require "connrecipe.address"
local errcode = require "connrecipe.errcode"

local situation = {}

-- The listeners (state listen) split into this namespace's, the others', and
-- those on the target's port in any namespace.
local function split_listeners(facts, port)
  local here, elsewhere, on_port = {}, {}, {}
  for _, l in ipairs(facts.listeners and facts.listeners.list or {}) do
    if l.state == "listen" then
      local bucket = (not facts.netns or l.netns == facts.netns) and here or elsewhere
      bucket[#bucket + 1] = l
      if l.port == port then
        on_port[#on_port + 1] = l
      end
    end
  end
  return here, elsewhere, on_port
end

-- What the listener dump could not read: `own`, why this namespace's tables
-- are unread (then "nothing listens" cannot be told), `others`, one line per
-- other namespace that could not be read, `hidden` (processes whose
-- namespace is unreadable, not root) and `hidepid`.
local function dump_gaps(facts)
  local dump, sec = facts.listeners or {}, facts.security or {}
  local root = sec.root
  local gaps = { others = {} }
  if dump.error or not dump.info then
    gaps.own = dump.error or "the listeners were not read"
    gaps.needs_root = errcode.needs_root(dump.code)
    return gaps
  end
  local info = dump.info
  for _, ns in ipairs(info.namespaces or {}) do
    if ns.error and not errcode.vanished(ns.errno) then -- gone during the dump: held no listener
      gaps.needs_root = gaps.needs_root or errcode.needs_root(ns.errno)
      if ns.via == "self" or (facts.netns and ns.inode == facts.netns) then
        gaps.own = ns.error
      else
        gaps.others[#gaps.others + 1] = ("netns %s: %s"):format(ns.name or tostring(ns.inode), ns.error)
      end
    end
  end
  if not gaps.own and info.error then
    gaps.own = info.error
    gaps.needs_root = gaps.needs_root or errcode.needs_root(info.errno)
  end
  -- without root, other users' processes do not show their namespace: one
  -- only they are in is not even listed (as root, what is left unreadable is
  -- beyond any privilege we could ask for)
  local hidden = info.namespaces_unreadable or 0
  if hidden > 0 and not root then
    gaps.hidden, gaps.needs_root = hidden, true
  end
  -- with hidepid (or subset=pid) other users' processes are not even listed
  if not root and (info.hidepid or sec.proc_restricted) then
    gaps.needs_root = true
    gaps.hidepid = sec.hidepid and ("hidepid=" .. sec.hidepid) or (sec.proc_restricted and "subset=pid" or "hidepid")
  end
  local tcp4 = (info.sources or {}).tcp4 -- "missing" is fine for tcp6 (no IPv6), never for tcp4
  if not gaps.own and tcp4 ~= "netlink" and tcp4 ~= "proc" then
    gaps.own = "no IPv4 TCP table could be read (neither sock_diag nor /proc/net/tcp)"
  end
  return gaps
end

-- Every address failed: explain the one a listener of its family exists for
-- (localhost -> ::1, 127.0.0.1 with a listener on 127.0.0.2 is an address
-- question, not a family one), else the first, the one a client tries first.
local function deciding_result(facts, results, on_port)
  for _, r in ipairs(results) do
    for _, l in ipairs(on_port) do
      if (not facts.netns or l.netns == facts.netns) and l.family == r.family then
        return r
      end
    end
  end
  return results[1]
end

--- The listeners of this namespace that the kernel would hand a connection
--- to addr:port: the address itself, else a wildcard of its family, else a
--- dual-stack [::] (several with SO_REUSEPORT).
function situation.accepting(here, addr, port)
  if address.is_wildcard(addr) then -- the kernel sends a connect to 0.0.0.0 / :: to loopback
    addr = address.is_v6(addr) and "::1" or "127.0.0.1"
  end
  local out, best = {}, 0
  for _, l in ipairs(here) do
    if l.port == port and address.accepts(l, addr) then
      local score = (l.addr == addr or l.addr == "::ffff:" .. addr) and 3
        or l.family == address.family_of(addr) and 2 or 1
      if score > best then
        out, best = {}, score
      end
      if score == best then
        out[#out + 1] = l
      end
    end
  end
  return out
end

--- The device a connection from this host to a local address arrives on:
--- the one that holds the address (the kernel loops it back with that
--- device as its input), lo for loopback and wildcard addresses, or the
--- client's VRF device for those when it runs in a VRF (facts.vrf.client).
function situation.arrival_device(facts, addr)
  if address.is_loopback(addr) or address.is_wildcard(addr) then
    local vrf = facts.vrf
    local client = vrf and vrf.devices and vrf.client and vrf.devices[vrf.client]
    return client and client.kind == "vrf" and vrf.client or "lo"
  end
  return (facts.local_addrs or {})[addr]
end

--- The listeners that would accept addr:port but are bound to a device
--- (SO_BINDTODEVICE) other than `dev`, the one the connection arrives on
--- (or than its VRF: a listener bound to a VRF takes what arrives on its
--- members; `devices` is facts.vrf.devices, when read): the kernel does not
--- hand them the connection. Empty when one accepts.
function situation.bound_away(accepting, dev, devices)
  local master = devices and devices[dev] and devices[dev].master
  local out = {}
  for _, l in ipairs(accepting) do
    if not l.dev or l.dev == dev or (master and l.dev == master) then
      return {}
    end
    out[#out + 1] = l
  end
  return out
end

-- ---- VRFs ----------------------------------------------------------------------
-- A socket bound to a VRF device (SO_BINDTODEVICE=vrf-blue, or made under
-- `ip vrf exec vrf-blue`) lives in that VRF: a listener there takes only
-- connections from inside it; a listener bound to no device takes only the
-- default VRF's, unless net.ipv4.tcp_l3mdev_accept=1 (then every VRF's).

local function is_vrf(vrf, dev)
  local d = dev and vrf.devices[dev]
  return d ~= nil and d.kind == "vrf"
end

-- Would l take a connection from a client in VRF `client` (nil: the default
-- one)? nil when VRFs do not decide it (a listener bound to a plain device:
-- connrecipe.checks.device; a binding unread).
local function vrf_takes(vrf, l, client)
  if l.dev_unknown then
    return nil
  elseif l.dev == nil then
    if client == nil or vrf.l3mdev_accept == 1 then
      return true
    end
    if vrf.l3mdev_accept == nil then
      return nil -- unread: no claim
    end
    return false
  elseif is_vrf(vrf, l.dev) then
    return l.dev == client
  end
  return nil
end

--- situation.vrf_refusal(facts, s) -> {listener, listener_vrf (nil: the
--- default VRF), client_vrf (nil: the default VRF)} when VRFs explain a local
--- refusal: no listener that should take the target takes a connection from
--- this client's VRF. nil when they do not, or when facts.vrf was not read.
function situation.vrf_refusal(facts, s)
  local vrf = facts.vrf
  if not (vrf and vrf.devices and not s.any_open and s.here_is_local and s.r.status == "refused"
    and #s.accepting > 0) then
    return nil
  end
  local client = vrf.client or nil
  if client and not is_vrf(vrf, client) then
    return nil -- bound to a plain device: not a VRF question
  end
  for _, l in ipairs(s.accepting) do
    local takes = vrf_takes(vrf, l, client)
    if takes ~= false then
      return nil
    end
  end
  local l = s.accepting[1]
  return { listener = l, listener_vrf = l.dev, client_vrf = client }
end

--- The listeners that took (the target is open) or should take the
--- connection: those accepting the open address, else the deciding one's.
function situation.taking(s)
  if s.open then
    return situation.accepting(s.here, s.open.addr, s.port)
  end
  return s.accepting
end

--- situation.of(facts) -> {target, port, results, open, any_open, r (the
--- deciding result), is_local(addr), here, elsewhere, on_port, accepting,
--- arrives_on, bound_away, vrf (situation.vrf_refusal), same_family,
--- other_family, elsewhere_on_port, gaps, nothing_here}.
--- nil for a target that was not probed over TCP (Unix, unresolved).
--- Computed afresh on each call, so facts changed in between count, except
--- while situation.held(facts, fn) runs (the checks of one checklist run).
local function work_out(facts)
  local probe = facts.probe
  if not (probe and probe.results and probe.results[1]) then
    return nil
  end
  local t = facts.args.target
  local s = { target = t, port = t.port, results = probe.results, timeout = facts.args.timeout }
  for _, r in ipairs(s.results) do
    if r.status == "open" then
      s.open = s.open or r
    end
  end
  s.any_open = s.open ~= nil
  s.here, s.elsewhere, s.on_port = split_listeners(facts, t.port)
  s.gaps = dump_gaps(facts)
  s.r = deciding_result(facts, s.results, s.on_port)
  local locals = facts.local_addrs or {}
  function s.is_local(addr) -- a loopback address, one of ours, or a wildcard reaches this host
    return address.is_loopback(addr) or address.is_wildcard(addr) or locals[addr] ~= nil
  end
  s.here_is_local = s.is_local(s.r.addr)
  s.accepting = situation.accepting(s.here, s.r.addr, t.port)
  s.arrives_on = s.here_is_local and situation.arrival_device(facts, s.r.addr) or nil
  s.bound_away = s.arrives_on and situation.bound_away(s.accepting, s.arrives_on, facts.vrf and facts.vrf.devices)
    or {}
  s.vrf = situation.vrf_refusal(facts, s)
  s.same_family, s.other_family, s.elsewhere_on_port = {}, {}, {}
  for _, l in ipairs(s.on_port) do
    if not facts.netns or l.netns == facts.netns then
      local bucket = l.family == address.family_of(s.r.addr) and s.same_family or s.other_family
      bucket[#bucket + 1] = l
    end
  end
  for _, l in ipairs(s.elsewhere) do
    if l.port == t.port then
      s.elsewhere_on_port[#s.elsewhere_on_port + 1] = l
    end
  end
  -- a local refusal no listener of ours, of either family, nor one in another
  -- namespace accounts for: the service itself is the question
  s.nothing_here = not s.any_open and s.here_is_local and s.r.status == "refused" and #s.accepting == 0
    and #s.same_family == 0 and #s.other_family == 0 and #s.elsewhere_on_port == 0
  return s
end

-- facts -> its situation, while its checks run; false: held, not worked out yet
local held = setmetatable({}, { __mode = "k" })

function situation.of(facts)
  local s = held[facts]
  if s then
    return s
  end
  s = work_out(facts)
  if s and held[facts] == false then
    held[facts] = s
  end
  return s
end

--- situation.held(facts, fn, ...) -> fn's results: while fn runs the facts
--- do not change (the checks only read them), so every check that asks for
--- the situation gets the one worked out first (about 0.2 ms at 10k
--- listeners, asked for by most of the ~20 checks).
function situation.held(facts, fn, ...)
  if held[facts] ~= nil then -- nested over the same facts: already held
    return fn(...)
  end
  held[facts] = false
  local _ <close> = setmetatable({}, { __close = function()
    held[facts] = nil
  end })
  return fn(...)
end

--- The processes expected to serve the port (--process, --unit, or the usual
--- program), from facts.processes: `here` (in our namespace), `elsewhere`
--- (running, but in another one) and `why` they are expected; nil when no
--- program is expected.
function situation.expected(facts, usual_programs)
  local args, procs = facts.args, facts.processes
  local usual = usual_programs[args.target.port]
  if not (args.process or args.unit or usual) or not procs then
    return nil
  end
  local out = { here = {}, elsewhere = {} }
  local function keep(p) -- a process in another network namespace cannot serve this one's port
    if p.pid == facts.pid then
      return
    end
    local bucket = (not facts.netns or not p.netns or p.netns == facts.netns) and out.here or out.elsewhere
    bucket[#bucket + 1] = p
  end
  local matches
  if args.process then
    out.why = "--process " .. args.process
    matches = function(p)
      local exe = p.cmdline and p.cmdline[1] and p.cmdline[1]:match("[^/]+$")
      return p.comm == args.process or exe == args.process
    end
  elseif args.unit then
    out.why = "--unit " .. args.unit
    local unit = args.unit:find("%.") and args.unit or (args.unit .. ".service")
    matches = function(p)
      return p.unit == unit
    end
  else
    out.why = ("%s usually serves port %d"):format(table.concat(usual, "/"), args.target.port)
    matches = function(p)
      for _, name in ipairs(usual) do
        if p.comm == name then
          return true
        end
      end
    end
  end
  for _, p in ipairs(procs.list or {}) do
    if matches(p) then
      keep(p)
    end
  end
  return out
end

--- The firewall rules matching the deciding address whose action is in
--- `actions` ({drop = true, ...}); none when they were not read.
function situation.firewall_hits(facts, actions)
  local out = {}
  for _, h in ipairs(facts.firewall and facts.firewall.hits or {}) do
    if actions[h.action] then
      out[#out + 1] = h
    end
  end
  return out
end

--- Why the firewall rules could not be read, or nil (read, or not needed);
--- then whether root would have read them.
function situation.firewall_unread(facts)
  local fw = facts.firewall
  if not (fw and fw.error) then
    return nil
  end
  return fw.error, errcode.needs_root(fw.code)
end

--- This namespace's listeners held by pid, one per port, by port.
function situation.ports_of(s, pid)
  local list, seen = {}, {}
  for _, l in ipairs(s.here) do
    for _, p in ipairs(l.processes or {}) do
      if p.pid == pid and not seen[l.port] then
        seen[l.port] = true
        list[#list + 1] = l
      end
    end
  end
  table.sort(list, function(a, b)
    return a.port < b.port
  end)
  return list
end

return situation
