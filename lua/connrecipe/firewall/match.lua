-- The walk of one packet through the normalised rule set: which rules drop
-- or reject it, in the order the kernel would meet them (see
-- connrecipe.firewall and docs/sysfacts.md for the semantics).
local ipaddr = require "connrecipe.ipaddr"

local match = {}

local function port_in(port, ranges)
  for _, r in ipairs(ranges) do
    if port >= r[1] and port <= r[2] then
      return true
    end
  end
  return false
end

local function iface_in(name, patterns)
  for _, p in ipairs(patterns) do
    p = tostring(p)
    if p:sub(-1) == "+" or p:sub(-1) == "*" then -- iptables eth+, nft "eth*"
      if name:sub(1, #p - 1) == p:sub(1, -2) then
        return true
      end
    elseif p == name or p == "*" then
      return true
    end
  end
  return false
end

local function addr_in(addr, prefixes)
  for _, p in ipairs(prefixes) do
    local hit = ipaddr.in_prefix(addr, tostring(p))
    if hit == nil then
      return nil
    end
    if hit then
      return true
    end
  end
  return false
end

-- One condition against the packet: true, false, or nil (cannot tell).
local function cond_holds(c, pkt)
  if c.family and c.family ~= pkt.family then
    return false -- "ip saddr" never matches an IPv6 packet
  end
  if c.proto and c.proto ~= pkt.proto then
    return false -- "tcp dport" never matches UDP
  end
  local hit
  local f = c.field
  if f == "proto" then
    local want = {}
    for _, v in ipairs(c.values) do
      want[tostring(v)] = true
    end
    hit = want[pkt.proto] == true
  elseif f == "nfproto" then
    local fam = pkt.family == "inet" and "ipv4" or "ipv6"
    hit = false
    for _, v in ipairs(c.values) do
      hit = hit or v == fam or v == (pkt.family == "inet" and 2 or 10)
    end
  elseif f == "dport" or f == "sport" then
    local port = f == "dport" and pkt.port or pkt.sport
    if port == nil then
      return nil
    end
    if pkt.proto ~= "tcp" and pkt.proto ~= "udp" and pkt.proto ~= "sctp" then
      return false
    end
    hit = port_in(port, c.values)
  elseif f == "saddr" or f == "daddr" then
    local addr = f == "daddr" and pkt.addr or pkt.saddr
    if addr == nil then
      return nil
    end
    hit = addr_in(addr, c.values)
    if hit == nil then
      return nil
    end
  elseif f == "iif" or f == "oif" then
    local name = pkt[f]
    if name == nil then
      return nil
    end
    hit = name ~= false and iface_in(name, c.values)
  elseif f == "ctstate" then
    hit = false
    for _, v in ipairs(c.values) do
      hit = hit or tostring(v):lower() == pkt.ctstate
    end
  elseif f == "syn" then
    hit = pkt.proto == "tcp"
  else
    return nil
  end
  if c.op == "!=" then
    return not hit
  end
  return hit
end

-- The rule against the packet: true, false or nil (cannot tell), and why not certain.
local function rule_matches(rule, pkt)
  local result = true
  local why = {}
  for _, c in ipairs(rule.conds) do
    local h = cond_holds(c, pkt)
    if h == false then
      return false
    elseif h == nil then
      result = nil
      why[#why + 1] = "cannot tell " .. c.field .. " for this packet"
    end
  end
  if rule.unknown then
    result = nil
    for _, u in ipairs(rule.unknown) do
      why[#why + 1] = u
    end
  end
  return result, why
end

local function family_applies(rule_family, pkt_family)
  if rule_family == "inet" then
    return true
  end
  if rule_family == "ip" then
    return pkt_family == "inet"
  end
  if rule_family == "ip6" then
    return pkt_family == "inet6"
  end
  return false -- arp, bridge, netdev: not evaluated
end

local function chain_key(rule)
  return table.concat({ rule.source, rule.backend or "", tostring(rule.family), tostring(rule.table),
    tostring(rule.chain) }, " ")
end

-- Groups the rules by chain and collects base chains per hook.
local function index_chains(rules)
  local chains, bases, seen = {}, {}, {}
  for _, rule in ipairs(rules) do
    local key = chain_key(rule)
    chains[key] = chains[key] or {}
    table.insert(chains[key], rule)
    if rule.hook and not seen[key] then
      seen[key] = true
      bases[#bases + 1] = { key = key, hook = rule.hook, priority = rule.priority or 0, family = rule.family,
        source = rule.source, order = #bases + 1 }
    end
  end
  return chains, bases
end

local function hit_record(rule, certain, why, hook, stack)
  local r = {}
  for k, v in pairs(rule) do
    r[k] = v
  end
  -- the jumps that led here: kube-proxy names the Service on the jump to its reject chain
  for _, j in ipairs(stack or {}) do
    r.via = r.via or {}
    r.via[#r.via + 1] = { chain = j.chain, text = j.text, comment = j.comment }
  end
  r.hook = r.hook or hook
  r.certain = certain
  if not certain and why and #why > 0 then
    r.uncertain = why
  end
  return r
end

-- Walks one chain. Returns "accept", "drop" (stop everything) or nil (fell
-- off the end / returned). Appends drop/reject rules met on the way to hits
-- and uncertain decisions to doubts.
-- Leaving a chain by return (or at the end of a goto): in a base chain the
-- policy decides, in a user chain the caller goes on (nil).
local function leave(chains, key, ctx, certain_path)
  for _, rule in ipairs(chains[key] or {}) do
    if rule.policy then
      if rule.action == "drop" or rule.action == "reject" then
        ctx.hits[#ctx.hits + 1] = hit_record(rule, certain_path, nil, ctx.hook)
        return certain_path and "drop" or "maybe-drop"
      end
      return "accept"
    end
  end
  return nil
end

local function walk(chains, key, pkt, ctx, depth, certain_path)
  if depth > 32 then
    ctx.notes[#ctx.notes + 1] = "jump depth over 32 at " .. key
    return nil
  end
  for _, rule in ipairs(chains[key] or {}) do
    local m, why = rule_matches(rule, pkt)
    if m ~= false then
      local certain = m == true and certain_path
      local a = rule.action
      if rule.target == "DNAT" and (ctx.hook == "output" or ctx.hook == "prerouting") then
        -- the destination is rewritten: nat stops here for this packet
        ctx.dnat[#ctx.dnat + 1] = hit_record(rule, certain, why, ctx.hook, ctx.stack)
        if m == true then
          return "accept"
        end
        certain_path = false
      elseif a == "drop" or a == "reject" then
        ctx.hits[#ctx.hits + 1] = hit_record(rule, certain, why, ctx.hook, ctx.stack)
        if m == true then
          return certain_path and "drop" or "maybe-drop"
        end
      elseif a == "accept" then
        if m == true then
          return "accept"
        end
        ctx.doubts[#ctx.doubts + 1] = hit_record(rule, false, why, ctx.hook)
        certain_path = false
      elseif a == "return" then
        if m == true then
          return leave(chains, key, ctx, certain_path)
        end
        certain_path = false
      elseif a == "jump" or a == "goto" then
        local target = chain_key({ source = rule.source, backend = rule.backend, family = rule.family,
          table = rule.table, chain = rule.target })
        ctx.stack[#ctx.stack + 1] = rule
        local v = walk(chains, target, pkt, ctx, depth + 1, certain_path and m == true)
        ctx.stack[#ctx.stack] = nil
        if m == true and (v == "drop" or v == "maybe-drop" or v == "accept") then
          return v
        end
        if m == true and a == "goto" then
          return leave(chains, key, ctx, certain_path)
        end
        if m ~= true or v ~= nil then
          certain_path = false
        end
      end
    end
  end
  return nil
end

-- The source the kernel picks for a connection to a local address: 127.0.0.1
-- or ::1 for loopback, the address itself for the host's other addresses.
local function default_saddr(addr, family, is_local)
  if ipaddr.is_loopback(addr) then
    return family == "inet" and "127.0.0.1" or "::1"
  elseif is_local then
    return addr
  end
end

-- Is addr one of this host's (or the namespace's) addresses? Traffic to it
-- from the same host goes through lo. -> bool, note
local function address_is_local(q, interfaces)
  if q["local"] ~= nil then
    return q["local"]
  end
  if ipaddr.is_loopback(q.addr) then
    return true
  end
  local list, err = interfaces(q.netns)
  if not list then
    return false, "cannot tell whether " .. q.addr .. " is a local address: " .. tostring(err)
  end
  for _, i in ipairs(list) do
    for _, a in ipairs(i.addrs or {}) do
      if a.addr and ipaddr.in_prefix(q.addr, (a.addr:gsub("%%.*$", ""))) then
        return true
      end
    end
  end
  return false
end

local function hooks_for(direction, via_lo)
  if direction == "in" then
    return { "prerouting", "input" }
  elseif direction == "out" then
    return { "output", "postrouting" }
  elseif via_lo then
    return { "output", "postrouting", "prerouting", "input" }
  end
  return { "output", "postrouting" }
end

local function check_match_args(q)
  if type(q) ~= "table" then
    error("bad argument #1 to 'match' (table {proto, addr, port, direction} expected)", 3)
  end
  local proto = q.proto or "tcp"
  if proto ~= "tcp" and proto ~= "udp" and proto ~= "sctp" then
    error("cr.firewall.match: proto must be \"tcp\", \"udp\" or \"sctp\"", 3)
  end
  local family = ipaddr.parse(q.addr or "")
  if not family then
    error("cr.firewall.match: addr must be an IP address, got " .. tostring(q.addr), 3)
  end
  if math.type(q.port) ~= "integer" or q.port < 0 or q.port > 65535 then
    error("cr.firewall.match: port must be an integer 0-65535", 3)
  end
  if q.direction ~= nil and q.direction ~= "in" and q.direction ~= "out" then
    error("cr.firewall.match: direction must be \"in\" or \"out\"", 3)
  end
  if q["local"] ~= nil and type(q["local"]) ~= "boolean" then
    error("cr.firewall.match: local must be a boolean", 3)
  end
  return proto, family
end

--- cr.firewall.match{proto, addr, port [, direction] [, saddr] [, sport]
--- [, iif] [, oif] [, rules] [, netns]} -> hits, info; or nil, reason.
--- hits: the drop/reject rules (and policies) this packet meets, in evaluation
--- order, each with certain = true|false and, when false, uncertain = {why}.
--- info: {verdict = "drop"|"accept"|"unknown", hooks, doubts (accept rules that
--- might have let it through), notes, dnat (the DNAT rules met in output and
--- prerouting, each with `dnat = {addr, port}` when one endpoint is named)}.
--- deps: {rules = fn(netns), interfaces = fn(netns)}.
-- The packet as the kernel sends it: an IPv4-mapped address
-- (::ffff:127.0.0.1) is IPv4, and a connection to 0.0.0.0 or :: goes to
-- 127.0.0.1 or ::1. A copy: the caller's table is left alone.
local function as_sent(q)
  local out = {}
  for k, v in pairs(q) do
    out[k] = v
  end
  out.addr = ipaddr.unmap(q.addr)
  out.saddr = q.saddr and ipaddr.unmap(q.saddr)
  local family, bytes = ipaddr.parse(out.addr)
  local any = true
  for _, b in ipairs(bytes) do
    any = any and b == 0
  end
  if any then
    out.addr = family == "inet" and "127.0.0.1" or "::1"
  end
  return out
end

function match.match(q, deps)
  check_match_args(q)
  q = as_sent(q)
  local proto, family = check_match_args(q)
  local rules = q.rules
  if rules == nil then
    local err, code
    rules, err, code = deps.rules(q.netns)
    if not rules then
      return nil, err, code
    end
  end
  local ctx = { hits = {}, doubts = {}, notes = {}, dnat = {}, stack = {} }
  local via_lo, note = address_is_local(q, deps.interfaces)
  ctx.notes[#ctx.notes + 1] = note
  local pkt = {
    proto = proto, family = family, addr = q.addr, port = q.port, sport = q.sport, ctstate = "new",
    saddr = q.saddr or default_saddr(q.addr, family, via_lo),
  }
  local chains, bases = index_chains(rules)
  local hooks = hooks_for(q.direction, via_lo)
  local verdict = "accept"
  for _, hook in ipairs(hooks) do
    local inbound = hook == "prerouting" or hook == "input"
    -- a hook that has no input interface has iif "" (never matches a name)
    pkt.iif = inbound and (q.iif or (via_lo and "lo" or nil)) or false
    pkt.oif = (not inbound) and (q.oif or (via_lo and "lo" or nil)) or false
    local here = {}
    for _, b in ipairs(bases) do
      if b.hook == hook and family_applies(b.family, family) then
        here[#here + 1] = b
      end
    end
    table.sort(here, function(a, b)
      if a.priority ~= b.priority then
        return a.priority < b.priority
      end
      return a.order < b.order
    end)
    ctx.hook = hook
    for _, b in ipairs(here) do
      local v = walk(chains, b.key, pkt, ctx, 0, true)
      if v == "drop" then
        return ctx.hits, { verdict = "drop", hooks = hooks, doubts = ctx.doubts, notes = ctx.notes,
          ["local"] = via_lo, dnat = ctx.dnat }
      elseif v == "maybe-drop" then
        verdict = "unknown"
      end
    end
  end
  if #ctx.hits > 0 then
    verdict = "unknown"
  end
  return ctx.hits, { verdict = verdict, hooks = hooks, doubts = ctx.doubts, notes = ctx.notes, ["local"] = via_lo,
    dnat = ctx.dnat }
end



return match
