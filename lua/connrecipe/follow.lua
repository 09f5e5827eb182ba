-- Following the hops (the facts side): when the socket that accepted belongs
-- to a forwarder (connrecipe.hops reads its command line), or a DNAT rule
-- rewrites the destination, the investigation runs again for the upstream,
-- from inside the network namespace that owns the upstream's address, and its
-- facts nest in facts.hops. Bounded: follow.MAX_DEPTH hops.
--
-- facts.hops = { { kind = "forwarder" | "dnat", tool, pid, rule, upstream =
--   {host, port} | {path}, netns = {inode, name, container}, why (not
--   followed), loop (true: the upstream is already on the path, not
--   followed round again), limit (MAX_DEPTH: the hop is past it, not
--   followed), facts (the upstream's) }, ... }
-- A hop's facts carry the path's endpoints so far in args.visited, and what
-- sent the connection there (the hop's kind, tool, pid, chain) in args.via;
-- args.tls_ended when a forwarder on the way ended the client's TLS.
local address = require "connrecipe.address"
local ipaddr = require "connrecipe.ipaddr"
local cr = require "connrecipe"
local hops = require("connrecipe.lazy").require "connrecipe.hops" -- only when there is a hop to follow
local situation = require "connrecipe.checks.situation"
local target = require "connrecipe.target"

local follow = {}

follow.MAX_DEPTH = 4
local MAX_NAMESPACES = 64 -- namespaces searched for an upstream's address

-- How to enter a namespace of the dump: spec for cr.sys / cr.firewall (a
-- /run/netns name or a pid), path for the probe; nil ones for our own.
local function ns_ref(ns, own)
  local ref = { inode = ns.inode, name = ns.name, container = ns.container, pid = ns.pid }
  if ns.inode ~= own then
    ref.spec = ns.name or ns.pid
    ref.path = ns.name and ("/run/netns/" .. ns.name) or ("/proc/%d/ns/net"):format(ns.pid)
  end
  return ref
end

local function namespaces(facts)
  local info = facts.listeners and facts.listeners.info or {}
  return info.namespaces or {}
end

-- The interface address of `list` that is addr, as "addr/prefix", or nil.
local function own_prefix(list, addr)
  for _, iface in ipairs(list or {}) do
    for _, a in ipairs(iface.addrs or {}) do
      if a.addr == addr then
        return ("%s/%d"):format(a.addr, a.prefix or 32)
      end
    end
  end
end

-- Is addr/prefix on a link of `list` (the forwarder's side of a veth or bridge)?
local function on_link(list, prefix)
  for _, iface in ipairs(list or {}) do
    for _, a in ipairs(iface.addrs or {}) do
      if not iface.loopback and ipaddr.in_prefix(a.addr, prefix) then
        return true
      end
    end
  end
  return false
end

-- The namespace that owns addr: the one the connection leaves from (`from`)
-- for a loopback or own address; else the namespace holding that address on
-- a link `from` shares (a veth pair, a bridge: docker0 and its containers),
-- else the only namespace holding it; else `from` (the address is beyond
-- this host). Namespaces that merely reuse the address elsewhere are never
-- probed into.
local function owner_of(ctx, facts, addr, from)
  if address.is_loopback(addr) or (facts.local_addrs or {})[addr] then
    return from
  end
  local mine = ctx:check("addresses of the forwarding namespace", cr.sys.interfaces, from.spec)
  local linked, holders = nil, {}
  for i, ns in ipairs(namespaces(facts)) do
    if i > MAX_NAMESPACES then
      break
    end
    if ns.inode ~= from.inode and not ns.error and (ns.name or ns.pid) then
      local prefix = own_prefix(ctx:check("addresses of netns " .. (ns.name or tostring(ns.inode)),
        cr.sys.interfaces, ns.name or ns.pid), addr)
      if prefix then
        holders[#holders + 1] = ns
        if not linked and on_link(mine, prefix) then
          linked = ns
        end
      end
    end
  end
  local ns = linked or (#holders == 1 and holders[1])
  return ns and ns_ref(ns, facts.args.own_netns or facts.netns) or from
end

-- Without root, the probe could not be made inside the namespace (setns:
-- EPERM; the namespace file: EACCES): its outcome says nothing of the upstream.
local function not_entered(f)
  local r = f.probe and f.probe.results and f.probe.results[1]
  return r ~= nil and (r.errno == "EPERM" or r.errno == "EACCES")
end

-- An endpoint on the path: "NETNS-INODE ADDR:PORT", or the Unix socket's path.
local function endpoint_key(inode, up)
  return up.path and ("unix:" .. up.path) or ("%s %s"):format(tostring(inode), hops.endpoint(up))
end

-- The endpoints on the path to this one, this one last: one entry each, by
-- its address, then "|" and its name when a forwarder named it (socat
-- TCP:localhost:80).
local function visited(facts, s)
  local list = {}
  for i, k in ipairs(facts.args.visited or {}) do
    list[i] = k
  end
  local addr, host = (s.open or s.r).addr, facts.args.target.host
  local entry = endpoint_key(facts.netns, { host = addr, port = s.port })
  if host and host ~= addr then
    entry = entry .. "|" .. endpoint_key(facts.netns, { host = host, port = s.port })
  end
  list[#list + 1] = entry
  return list
end

local function on_path(path, key)
  for _, entry in ipairs(path) do
    for k in entry:gmatch("[^|]+") do
      if k == key then
        return true
      end
    end
  end
  return false
end

local function nested(ctx, facts, hop, investigate_target, ns, path)
  local t = target.parse(hops.endpoint(hop.upstream))
  if not t then
    hop.why = "its upstream " .. hops.endpoint(hop.upstream) .. " is not an address diagnose can probe"
    return
  end
  hop.netns = { inode = ns.inode, name = ns.name, container = ns.container, pid = ns.pid }
  local key = endpoint_key(ns.inode, hop.upstream)
  if on_path(path, key) then -- back to an endpoint the connection went through: not followed round again
    hop.loop = true
    return
  end
  hop.facts = investigate_target(ctx, {
    target = t, timeout = facts.args.timeout, depth = (facts.args.depth or 0) + 1,
    netns = t.kind == "inet" and ns or nil, listeners = facts.listeners,
    own_netns = facts.args.own_netns or facts.netns, client = facts.args.client or facts.args.target,
    visited = path, via = { kind = hop.kind, tool = hop.tool, pid = hop.pid, chain = hop.chain },
    tls_ended = facts.args.tls_ended or hop.tls_ends,
  })
  if ns.path and not (facts.security or {}).root and not_entered(hop.facts) then
    hop.facts = nil
    hop.why = ("entering netns %s needs root: run as root to follow it"):format(ns.name or tostring(ns.inode))
  end
end

-- The forwarder holding the listener that accepted, if any.
local function forwarder_hop(ctx, s)
  for _, l in ipairs(situation.accepting(s.here, s.open.addr, s.port)) do
    local p = l.processes and l.processes[1]
    local proc = p and ctx:check("command line of pid " .. p.pid, cr.process.get, p.pid)
    local fw = proc and hops.forwarder(proc.cmdline, s.port)
    if fw then
      return { kind = "forwarder", tool = fw.tool, pid = p.pid, upstream = fw.upstream,
        forwards_to = fw.forwards_to, why = fw.why, tls_ends = fw.tls_ends }, l
    end
  end
end

-- Whether a legacy iptables nat table exists in this namespace (the kernel
-- lists the tables it holds; no file: ip_tables is not even loaded).
local function legacy_nat_table()
  for _, path in ipairs { "/proc/net/ip_tables_names", "/proc/net/ip6_tables_names" } do
    local f = io.open(path)
    if f then
      local names = f:read("a") or ""
      f:close()
      if names:match("%f[%w]nat%f[%W]") then
        return true
      end
    end
  end
  return false
end

-- The match for the DNAT rules. A DNAT (or redirect) can only sit in a chain
-- of type nat: when this namespace has none, in nftables (iptables-nft's
-- tables included) or legacy iptables, no rule can rewrite the packet, and
-- running nft and the four iptables-save tools (most of a quiet run's
-- time) would only say so. Another namespace's rules are always read.
local function nat_match(q)
  if q.netns == nil and cr.sys._nft_nat_chain() == false and not legacy_nat_table() then
    return {}, { dnat = {}, notes = { "no chain of type nat in this network namespace" } }
  end
  return cr.firewall.match(q)
end

-- The DNAT rules the probe's packet meets (read with the firewall, or here).
local function dnat_rules(ctx, facts, s)
  if not facts.nat then
    local spec = facts.args.netns and facts.args.netns.spec
    local _, info = ctx:check("nat rules for " .. address.endpoint(s.r.addr, s.port), nat_match,
      { proto = "tcp", addr = s.r.addr, port = s.port, direction = not s.here_is_local and "out" or nil, netns = spec })
    facts.nat = { dnat = type(info) == "table" and info.dnat or {} }
  end
  return facts.nat.dnat
end

local function dnat_hops(ctx, facts, s)
  local out = {}
  for _, rule in ipairs(dnat_rules(ctx, facts, s)) do
    local d = rule.dnat
    local hop = { kind = "dnat", rule = rule.text, chain = rule.chain, certain = rule.certain,
      tool = rule.chain and rule.chain:match("^KUBE%-") and "kube-proxy"
        or rule.chain and rule.chain:match("^DOCKER") and "docker" or nil }
    if d then
      hop.upstream = { host = d.addr, port = d.port or s.port }
    else
      hop.why = "the rule maps to a range or a map of addresses, not one endpoint"
    end
    out[#out + 1] = hop
  end
  return out
end

--- follow.read(ctx, facts, investigate_target): facts.hops, each upstream
--- investigated (recursively, up to MAX_DEPTH hops). At the limit the next
--- hop is still read, not followed: hop.limit = MAX_DEPTH, so the report
--- can say where the connection goes on (connrecipe.checks.hops).
function follow.read(ctx, facts, investigate_target)
  local s = situation.of(facts)
  if not s then
    return
  end
  local at_limit = (facts.args.depth or 0) >= follow.MAX_DEPTH
  local here = facts.args.netns or { inode = facts.netns }
  local list = {}
  if s.any_open then
    local hop = forwarder_hop(ctx, s)
    list[1] = hop
  end
  if #list == 0 and not (s.any_open and #situation.accepting(s.here, s.open.addr, s.port) > 0) then
    list = dnat_hops(ctx, facts, s)
  end
  local path = list[1] and visited(facts, s)
  for _, hop in ipairs(list) do
    if hop.upstream and not hop.why and at_limit then
      hop.limit = follow.MAX_DEPTH
    elseif hop.upstream and not hop.why then
      local ns = hop.upstream.path and here or owner_of(ctx, facts, hop.upstream.host, here)
      nested(ctx, facts, hop, investigate_target, ns, path)
    end
  end
  facts.hops = #list > 0 and list or nil
end

return follow
