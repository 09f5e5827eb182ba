-- cr.firewall: the live packet-filter rule set (nftables and iptables, both
-- back ends), normalised, and a matcher that walks it the way the kernel
-- would for one packet.
--
-- Parsers (parse_nft, parse_iptables_save) are pure and take text; rules()
-- runs the tools through cr.exec. Each normalised rule keeps its conditions
-- in `conds` ({field, op, values, ...}); anything the matcher does not
-- understand goes to `unknown` (a list of strings) and makes the rule's
-- outcome uncertain instead of being ignored.
local util = require "connrecipe.sysutil"
local ipaddr = require "connrecipe.ipaddr"
local cjson = require "cjson.safe"

local firewall = {}

local IPT_HOOKS = {
  PREROUTING = "prerouting", INPUT = "input", FORWARD = "forward", OUTPUT = "output", POSTROUTING = "postrouting",
}
-- iptables tables register at these netfilter priorities
local IPT_PRIORITY = { raw = -300, mangle = -150, nat = -100, filter = 0, security = 50 }
local PROTO_NUMBERS = { [1] = "icmp", [6] = "tcp", [17] = "udp", [58] = "ipv6-icmp", [132] = "sctp", [136] = "udplite" }

-- 8080, "8080", "81:90", "81-90" -> {first, last}; nil unless both are ports.
local function port_range(v, w)
  local a, b
  if w ~= nil then
    a, b = v, w
  elseif math.type(v) == "integer" then
    a, b = v, v
  else
    a, b = tostring(v):match("^(%d+)[:%-](%d+)$")
    if not a then
      a = tostring(v):match("^%d+$")
      b = a
    end
  end
  a, b = math.tointeger(tonumber(a)), math.tointeger(tonumber(b))
  if not a or not b or a < 0 or b > 65535 or a > b then
    return nil
  end
  return { a, b }
end

local function proto_name(v)
  if type(v) == "number" then
    return PROTO_NUMBERS[v] or tostring(math.tointeger(v))
  end
  v = tostring(v):lower()
  return PROTO_NUMBERS[tonumber(v) or -1] or (v == "icmpv6" and "ipv6-icmp" or v)
end

-- Fills the summary fields (proto, dports, saddr, ...) from the conditions.
local function summarise(rule)
  for _, c in ipairs(rule.conds) do
    local f = c.field
    local neg = c.op == "!=" or nil
    if f == "proto" and not rule.proto then
      rule.proto, rule.proto_negated = c.values[1], neg
    elseif (f == "dport" or f == "sport") and not rule[f .. "s"] then
      rule[f .. "s"] = c.values
      rule[f .. "s_negated"] = neg
      if c.proto and not rule.proto then
        rule.proto = c.proto
      end
    elseif (f == "saddr" or f == "daddr" or f == "iif" or f == "oif") and not rule[f] then
      rule[f] = #c.values == 1 and c.values[1] or c.values
      rule[f .. "_negated"] = neg
    end
  end
  if #rule.unknown == 0 then
    rule.unknown = nil
  end
  return rule
end

local function new_rule(fields)
  fields.conds = fields.conds or {}
  fields.unknown = fields.unknown or {}
  return fields
end

----------------------------------------------------------------------------
-- iptables-save
----------------------------------------------------------------------------

-- Splits an iptables-save line into words, honouring double quotes.
local function ipt_tokens(line)
  local tokens = {}
  local i, n = 1, #line
  while i <= n do
    local c = line:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif c == '"' then
      local buf = {}
      i = i + 1
      while i <= n and line:sub(i, i) ~= '"' do
        if line:sub(i, i) == "\\" and i < n then
          i = i + 1
        end
        buf[#buf + 1] = line:sub(i, i)
        i = i + 1
      end
      tokens[#tokens + 1] = table.concat(buf)
      i = i + 1
    else
      local j = line:find("[%s\"]", i) or n + 1
      tokens[#tokens + 1] = line:sub(i, j - 1)
      i = j
    end
  end
  return tokens
end

local KNOWN_MODULES = { tcp = true, udp = true, multiport = true, conntrack = true, state = true, comment = true }
local CORE_OPTIONS = {
  ["-s"] = "saddr", ["--source"] = "saddr", ["-d"] = "daddr", ["--destination"] = "daddr",
  ["-i"] = "iif", ["--in-interface"] = "iif", ["-o"] = "oif", ["--out-interface"] = "oif",
  ["-p"] = "proto", ["--protocol"] = "proto",
}

local TAKES_VALUE = {
  ["-A"] = true, ["--append"] = true, ["-m"] = true, ["--match"] = true, ["-j"] = true, ["--jump"] = true,
  ["-g"] = true, ["--goto"] = true, ["--reject-with"] = true, ["--dport"] = true, ["--destination-port"] = true,
  ["--sport"] = true, ["--source-port"] = true, ["--dports"] = true, ["--destination-ports"] = true,
  ["--sports"] = true, ["--source-ports"] = true, ["--ctstate"] = true, ["--state"] = true, ["--comment"] = true,
}
for opt in pairs(CORE_OPTIONS) do
  TAKES_VALUE[opt] = true
end

local function split_list(s)
  local t = {}
  for item in s:gmatch("[^,]+") do
    t[#t + 1] = item
  end
  return t
end

-- One "-A CHAIN ..." line -> a rule (without table/family context).
local function parse_ipt_rule(tokens, text)
  local rule = new_rule({ text = text })
  local negate, module, unknown_buf = false, nil, nil
  local proto
  local function flush_unknown()
    if unknown_buf then
      rule.unknown[#rule.unknown + 1] = table.concat(unknown_buf, " ")
      unknown_buf = nil
    end
  end
  local function add(field, values, extra)
    local c = { field = field, op = negate and "!=" or "==", values = values }
    for k, v in pairs(extra or {}) do
      c[k] = v
    end
    rule.conds[#rule.conds + 1] = c
    negate = false
  end
  local i = 1
  while i <= #tokens do
    local t = tokens[i]
    local v = tokens[i + 1]
    if TAKES_VALUE[t] and v == nil then
      return nil, t .. " without a value"
    end
    if t == "!" then
      negate = true
      i = i + 1
    elseif t == "-A" or t == "--append" then
      rule.chain = v
      i = i + 2
    elseif CORE_OPTIONS[t] then
      flush_unknown()
      module = nil
      local field = CORE_OPTIONS[t]
      if field == "proto" then
        proto = proto_name(v)
        if proto ~= "all" and proto ~= "0" then
          add("proto", { proto })
        else
          negate = false
        end
      elseif field == "saddr" or field == "daddr" then
        add(field, split_list(v))
      else
        add(field, { v })
      end
      i = i + 2
    elseif t == "-m" or t == "--match" then
      flush_unknown()
      module = v
      if not KNOWN_MODULES[v] then
        unknown_buf = { (negate and "! " or "") .. "-m " .. v }
        negate = false
      end
      i = i + 2
    elseif t == "-j" or t == "--jump" or t == "-g" or t == "--goto" then
      flush_unknown()
      module = "target"
      local target = v
      if target == "ACCEPT" or target == "DROP" or target == "REJECT" or target == "RETURN" then
        rule.action = target:lower()
      elseif target == "LOG" or target == "NFLOG" or target == "CONNMARK" or target == "MARK" or target == "TRACE" then
        rule.action = "continue" -- non-terminating targets
        rule.target = target
      elseif target:match("^%u+$") and (target == "DNAT" or target == "SNAT" or target == "MASQUERADE"
          or target == "REDIRECT" or target == "CT" or target == "NOTRACK") then
        rule.action = "continue"
        rule.target = target
      else
        rule.action = (t == "-g" or t == "--goto") and "goto" or "jump"
        rule.target = target
      end
      i = i + 2
    elseif module == "target" then
      if t == "--reject-with" then
        rule.reject_with = v
        i = i + 2
      else
        i = i + 1 -- other target options do not change the verdict
      end
    elseif unknown_buf then
      unknown_buf[#unknown_buf + 1] = (negate and "! " or "") .. t
      negate = false
      i = i + 1
    elseif t == "--dport" or t == "--destination-port" or t == "--sport" or t == "--source-port" then
      local field = (t == "--dport" or t == "--destination-port") and "dport" or "sport"
      local r = port_range(v)
      if r then
        add(field, { r }, { proto = proto })
      else
        rule.unknown[#rule.unknown + 1] = t .. " " .. v
        negate = false
      end
      i = i + 2
    elseif t == "--dports" or t == "--destination-ports" or t == "--sports" or t == "--source-ports" then
      local field = t:find("^%-%-d") and "dport" or "sport"
      local ranges = {}
      for _, p in ipairs(split_list(v)) do
        ranges[#ranges + 1] = port_range(p)
      end
      if #ranges > 0 and #ranges == #split_list(v) then
        add(field, ranges, { proto = proto })
      else
        rule.unknown[#rule.unknown + 1] = t .. " " .. v
        negate = false
      end
      i = i + 2
    elseif t == "--ctstate" or t == "--state" then
      local states = {}
      for _, s in ipairs(split_list(v)) do
        states[#states + 1] = s:lower()
      end
      add("ctstate", states)
      i = i + 2
    elseif t == "--syn" then
      add("syn", { true })
      i = i + 1
    elseif t == "--comment" then
      rule.comment = v
      i = i + 2
    else
      -- an option of a known module we do not evaluate (--tcp-flags, --ports ...)
      local buf = { (negate and "! " or "") .. t }
      negate = false
      i = i + 1
      while tokens[i] and not tokens[i]:match("^%-") and tokens[i] ~= "!" do
        buf[#buf + 1] = tokens[i]
        i = i + 1
      end
      rule.unknown[#rule.unknown + 1] = table.concat(buf, " ")
    end
  end
  flush_unknown()
  rule.action = rule.action or "continue"
  return rule
end

--- cr.firewall.parse_iptables_save(text [, family [, backend]]) -> rules, or
--- nil, reason. family "ip" (iptables-save) or "ip6" (ip6tables-save);
--- backend "nft" or "legacy".
function firewall.parse_iptables_save(text, family, backend)
  if type(text) ~= "string" then
    return nil, "iptables-save output is not text"
  end
  family = family or "ip"
  local rules, policies = {}, {}
  local tables_seen = {}
  local current
  for n, line in util.lines(text) do
    line = line:gsub("\r$", "")
    local counters, rest = line:match("^%[(%d+:%d+)%]%s+(.*)$")
    if counters then
      line = rest
    end
    if line:match("^%s*#") or line:match("^%s*$") or line == "COMMIT" then -- luacheck: ignore 542
    elseif line:match("^%*") then
      current = line:sub(2)
      tables_seen[#tables_seen + 1] = current
      policies[current] = {}
    elseif line:match("^:") then
      local chain, policy, pk, bk = line:match("^:(%S+)%s+(%S+)%s+%[(%d+):(%d+)%]")
      if not chain or not current then
        return nil, ("iptables-save line %d: cannot parse chain line: %s"):format(n, line)
      end
      if policy ~= "-" then
        policies[current][#policies[current] + 1] = {
          chain = chain, action = policy:lower(), packets = tonumber(pk), bytes = tonumber(bk), line = line,
        }
      end
    elseif line:match("^%-A%s") then
      if not current then
        return nil, ("iptables-save line %d: rule outside a table"):format(n)
      end
      local rule, why = parse_ipt_rule(ipt_tokens(line), line)
      if not rule then
        return nil, ("iptables-save line %d: %s: %s"):format(n, why, line)
      end
      rule.source, rule.backend, rule.family, rule.table = "iptables", backend, family, current
      rule.hook = IPT_HOOKS[rule.chain]
      rule.priority = rule.hook and IPT_PRIORITY[current]
      if counters then
        local p, b = counters:match("(%d+):(%d+)")
        rule.packets, rule.bytes = math.tointeger(tonumber(p)), math.tointeger(tonumber(b))
      end
      rules[#rules + 1] = summarise(rule)
    else
      return nil, ("iptables-save line %d: unexpected: %s"):format(n, line)
    end
  end
  -- policies come after the chain's rules (they apply when nothing else decided)
  for _, tname in ipairs(tables_seen) do
    for _, p in ipairs(policies[tname]) do
      local hook = IPT_HOOKS[p.chain]
      rules[#rules + 1] = summarise(new_rule({
        source = "iptables", backend = backend, family = family, table = tname, chain = p.chain,
        hook = hook, priority = IPT_PRIORITY[tname], policy = true, action = p.action,
        packets = p.packets, bytes = p.bytes, text = p.line,
      }))
    end
  end
  return rules, tables_seen
end

----------------------------------------------------------------------------
-- nft -j list ruleset
----------------------------------------------------------------------------

local function describe(x)
  local s = cjson.encode(x)
  return s or tostring(x)
end

-- A JSON right-hand side -> list of plain values: numbers, strings,
-- {first, last} ranges and "addr/len" prefixes. nil when not understood.
local function nft_values(right, sets, family, table_name)
  local out = {}
  local function add(v)
    if type(v) == "number" or type(v) == "string" or type(v) == "boolean" then
      out[#out + 1] = v
    elseif type(v) == "table" and v.range and type(v.range) == "table" then
      out[#out + 1] = { v.range[1], v.range[2], range = true }
    elseif type(v) == "table" and v.prefix and type(v.prefix) == "table" then
      out[#out + 1] = tostring(v.prefix.addr) .. "/" .. tostring(v.prefix.len)
    elseif type(v) == "table" and v.elem and type(v.elem) == "table" then
      return add(v.elem.val)
    else
      return false
    end
    return true
  end
  if type(right) == "string" and right:sub(1, 1) == "@" then
    local set = sets[family .. " " .. table_name .. " " .. right:sub(2)]
    if not set then
      return nil
    end
    right = { set = set }
  end
  if type(right) == "table" and right[1] ~= nil then
    right = { set = right } -- a flag list: ct state { established, related }
  end
  if type(right) == "table" and right.set then
    local elems = right.set
    if type(elems) ~= "table" then
      elems = { elems }
    end
    for _, e in ipairs(elems) do
      if not add(e) then
        return nil
      end
    end
  elseif not add(right) then
    return nil
  end
  return out
end

local NFT_META = { iif = "iif", iifname = "iif", oif = "oif", oifname = "oif", l4proto = "proto", nfproto = "nfproto" }
local NFT_L4 = { tcp = true, udp = true, sctp = true, dccp = true, udplite = true, th = true }

-- One "match" expression -> a condition, or nil, reason (unknown).
local function nft_condition(m, sets, family, table_name)
  if type(m) ~= "table" or type(m.left) ~= "table" then
    return nil, describe(m)
  end
  local op = m.op or "=="
  if op == "in" then
    op = "=="
  end
  local left = m.left
  local values = nft_values(m.right, sets, family, table_name)
  if not values then
    return nil, describe(m)
  end
  local cond = { op = op, values = values }
  if op == "<" or op == ">" or op == "<=" or op == ">=" then
    local n = tonumber(values[1])
    if not n then
      return nil, describe(m)
    end
    local lo, hi = 0, 65535
    if op == "<" then
      hi = n - 1
    elseif op == "<=" then
      hi = n
    elseif op == ">" then
      lo = n + 1
    else
      lo = n
    end
    cond.op, cond.values = "==", { { lo, hi, range = true } }
  elseif op ~= "==" and op ~= "!=" then
    return nil, describe(m)
  end
  if type(left.payload) == "table" then
    local proto, field = left.payload.protocol, left.payload.field
    if NFT_L4[proto] and (field == "dport" or field == "sport") then
      cond.field = field
      cond.proto = proto ~= "th" and proto or nil
      for i, v in ipairs(cond.values) do
        local r = type(v) == "table" and port_range(v[1], v[2]) or port_range(v)
        if not r then
          return nil, describe(m)
        end
        cond.values[i] = r
      end
      return cond
    elseif (proto == "ip" or proto == "ip6") and (field == "saddr" or field == "daddr") then
      cond.field, cond.family = field, proto == "ip" and "inet" or "inet6"
      return cond
    elseif (proto == "ip" and field == "protocol") or (proto == "ip6" and field == "nexthdr") then
      cond.field, cond.family = "proto", proto == "ip" and "inet" or "inet6"
      for i, v in ipairs(cond.values) do
        cond.values[i] = proto_name(v)
      end
      return cond
    end
  elseif type(left.meta) == "table" and NFT_META[left.meta.key] then
    cond.field = NFT_META[left.meta.key]
    if cond.field == "proto" then
      for i, v in ipairs(cond.values) do
        cond.values[i] = proto_name(v)
      end
    end
    return cond
  elseif type(left.ct) == "table" and left.ct.key == "state" and not left.ct.dir then
    cond.field = "ctstate"
    return cond
  end
  return nil, describe(m)
end

local VERDICTS = {
  accept = true, drop = true, reject = true, ["return"] = true, continue = true, jump = true, ["goto"] = true,
}
-- statements that neither match nor decide
local PASSIVE = {
  counter = true, log = true, comment = true, mangle = true, meta = true, ["set"] = true, notrack = true,
  snat = true, dnat = true, masquerade = true, redirect = true, ct = true, flow = true, synproxy = false,
}

local function apply_verdict(rule, key, value)
  rule.action = key
  if key == "jump" or key == "goto" then
    rule.target = type(value) == "table" and value.target or nil
  elseif key == "reject" then
    if type(value) == "table" then
      rule.reject_with = value.expr and (tostring(value.type) .. " " .. tostring(value.expr)) or value.type
    end
    rule.reject_with = rule.reject_with or "icmpx port-unreachable"
  end
end

-- One nft rule's expression list -> one or more normalised rules (a verdict
-- map becomes one rule per entry).
local function nft_rule(r, sets, base)
  local rule = new_rule({
    source = "nft", family = r.family, table = r.table, chain = r.chain, handle = r.handle,
    comment = r.comment,
  })
  for k, v in pairs(base) do
    rule[k] = v
  end
  local vmap
  if type(r.expr) ~= "table" then
    return nil, "rule without an expression list"
  end
  for _, e in ipairs(r.expr) do
    if type(e) ~= "table" then
      return nil, "rule expression is not an object"
    end
    local key, value = next(e)
    if key == "match" then
      local cond, why = nft_condition(value, sets, r.family, r.table)
      if cond then
        rule.conds[#rule.conds + 1] = cond
      else
        rule.unknown[#rule.unknown + 1] = why
      end
    elseif VERDICTS[key] then
      apply_verdict(rule, key, value)
    elseif key == "counter" and type(value) == "table" then
      rule.packets, rule.bytes = value.packets, value.bytes
    elseif key == "vmap" and type(value) == "table" then
      vmap = value
    elseif key == "xt" and type(value) == "table" and value.type == "target" and value.name == "REJECT" then
      rule.action = "reject"
      rule.unknown[#rule.unknown + 1] = "xt target REJECT (reject type not shown by nft)"
    elseif PASSIVE[key] then -- luacheck: ignore 542
    else
      -- limit, quota, xt matches, ...: the rule may or may not apply
      rule.unknown[#rule.unknown + 1] = describe(e)
    end
  end
  rule.action = rule.action or "continue"
  if not vmap then
    return { summarise(rule) }
  end
  -- tcp dport vmap { 22 : accept, 80 : drop }
  local out = {}
  local entries = type(vmap.data) == "table" and vmap.data.set
  if type(entries) ~= "table" then
    rule.unknown[#rule.unknown + 1] = describe({ vmap = vmap })
    return { summarise(rule) }
  end
  for _, pair in ipairs(entries) do
    local copy = new_rule({})
    for k, v in pairs(rule) do
      copy[k] = v
    end
    copy.conds, copy.unknown = { table.unpack(rule.conds) }, { table.unpack(rule.unknown) }
    local cond = type(pair) == "table" and nft_condition({ op = "==", left = vmap.key, right = pair[1] }, sets,
      r.family, r.table)
    local verdict = type(pair) == "table" and type(pair[2]) == "table" and pair[2]
    local vk, vv
    if verdict then
      vk, vv = next(verdict)
    end
    if cond and VERDICTS[vk] then
      copy.conds[#copy.conds + 1] = cond
      apply_verdict(copy, vk, vv)
    else
      copy.unknown[#copy.unknown + 1] = "vmap entry " .. describe(pair)
      copy.action = "continue"
    end
    out[#out + 1] = summarise(copy)
  end
  return out
end

-- `nft -a list ruleset` -> "family table chain handle" -> rule text
local function nft_texts(text)
  local map = {}
  local family, tname, chain
  for _, line in util.lines(text) do
    local f, t = line:match("^table%s+(%S+)%s+(%S+)%s+{")
    local c = line:match("^%s+chain%s+(%S+)%s+{")
    if f then
      family, tname, chain = f, t, nil
    elseif c then
      chain = c
    elseif line:match("^%s+}") then
      chain = chain and nil
    elseif chain then
      local body, handle = line:match("^%s+(.-)%s+# handle (%d+)$")
      if body then
        map[("%s %s %s %s"):format(family, tname, chain, handle)] = body
      end
    end
  end
  return map
end

-- cjson gives every number as a float: 8080.0. Make integral ones integers.
local function integers(x, depth)
  if depth > 64 then
    return x
  end
  if type(x) == "number" then
    return math.tointeger(x) or x
  elseif type(x) == "table" then
    for k, v in pairs(x) do
      x[k] = integers(v, depth + 1)
    end
  end
  return x
end

--- cr.firewall.parse_nft(json_text [, listing]) -> rules, or nil, reason.
--- listing: the output of `nft -a list ruleset`, for each rule's text (optional).
function firewall.parse_nft(json_text, listing)
  if type(json_text) ~= "string" then
    return nil, "nft output is not text"
  end
  local doc, err = cjson.decode(json_text)
  if type(doc) ~= "table" then
    return nil, "cannot parse nft -j output: " .. tostring(err or "not a JSON object")
  end
  if type(doc.nftables) ~= "table" then
    return nil, "cannot parse nft -j output: no \"nftables\" array"
  end
  integers(doc, 0)
  local text_by_handle = type(listing) == "string" and nft_texts(listing) or {}
  local sets, chains, chain_order, rule_objs = {}, {}, {}, {}
  for i, item in ipairs(doc.nftables) do
    if type(item) ~= "table" then
      return nil, ("cannot parse nft -j output: item %d is not an object"):format(i)
    end
    if type(item.set) == "table" then
      local s = item.set
      sets[tostring(s.family) .. " " .. tostring(s.table) .. " " .. tostring(s.name)] = s.elem or {}
    elseif type(item.chain) == "table" then
      local c = item.chain
      local key = tostring(c.family) .. " " .. tostring(c.table) .. " " .. tostring(c.name)
      chains[key] = c
      chain_order[#chain_order + 1] = key
    elseif type(item.rule) == "table" then
      rule_objs[#rule_objs + 1] = item.rule
    end
  end
  local rules = {}
  local by_chain = {}
  for _, r in ipairs(rule_objs) do
    local key = tostring(r.family) .. " " .. tostring(r.table) .. " " .. tostring(r.chain)
    local c = chains[key]
    if not c then
      return nil, "cannot parse nft -j output: rule in unknown chain " .. key
    end
    local produced, why = nft_rule(r, sets, { hook = c.hook, priority = c.prio })
    if not produced then
      return nil, "cannot parse nft -j output: " .. why
    end
    for _, rule in ipairs(produced) do
      rule.text = text_by_handle[key .. " " .. tostring(r.handle)]
      by_chain[key] = by_chain[key] or {}
      table.insert(by_chain[key], rule)
    end
  end
  -- chain by chain, in listing order; base chains end with their policy
  for _, key in ipairs(chain_order) do
    for _, rule in ipairs(by_chain[key] or {}) do
      rules[#rules + 1] = rule
    end
    local c = chains[key]
    if c.hook then
      rules[#rules + 1] = summarise(new_rule({
        source = "nft", family = c.family, table = c.table, chain = c.name, hook = c.hook, priority = c.prio,
        chain_type = c.type, dev = c.dev, policy = true, action = c.policy or "accept",
        text = "policy " .. tostring(c.policy or "accept"),
      }))
    end
  end
  return rules
end


----------------------------------------------------------------------------
-- rules(): the live rule set
----------------------------------------------------------------------------

local function nft_rules(netns)
  local r, err = util.run({ "nft", "-j", "list", "ruleset" }, netns)
  if not r then
    return nil, err
  end
  local listing = util.run({ "nft", "-a", "list", "ruleset" }, netns)
  return firewall.parse_nft(r.stdout, listing and listing.stdout)
end

local function ipt_rules(prog, family, backend, netns)
  local r, err = util.run({ prog, "-c" }, netns)
  if not r then
    return nil, err
  end
  return firewall.parse_iptables_save(r.stdout, family, backend)
end

--- cr.firewall.rules([netns]) -> rules, notes; or nil, reason.
--- Runs nft -j, iptables-save/ip6tables-save (nft back end) and the legacy
--- iptables-legacy-save/ip6tables-legacy-save, inside task. netns: a name under
--- /run/netns or a pid. notes lists the sources that could not be read when
--- others could ("iptables-legacy-save not installed"). Tables that
--- iptables-nft manages are taken from iptables-save (its text is the one
--- users know), not duplicated from nft.
function firewall.rules(netns)
  local sources = {
    { "nft" },
    { "iptables-save", "ip", "nft" },
    { "ip6tables-save", "ip6", "nft" },
    { "iptables-legacy-save", "ip", "legacy" },
    { "ip6tables-legacy-save", "ip6", "legacy" },
  }
  -- the five tools run concurrently
  local jobs = {}
  for i, s in ipairs(sources) do
    jobs[i] = function()
      local rules, tables_or_err
      if i == 1 then
        rules, tables_or_err = nft_rules(netns)
      else
        rules, tables_or_err = ipt_rules(s[1], s[2], s[3], netns)
      end
      return { rules = rules, tables = rules and tables_or_err, err = not rules and tables_or_err }
    end
  end
  local outcomes = { util.all(jobs) }
  local results, failures = {}, {}
  for i, o in ipairs(outcomes) do
    if o.rules then
      results[i] = o
    elseif o.err == "permission denied" then
      return nil, "permission denied" -- a partial view would mislead
    else
      failures[#failures + 1] = o.err
    end
  end
  if not next(results) then
    return nil, table.concat(failures, "; ")
  end
  -- tables iptables-nft wrote appear in nft too: keep the iptables view
  local iptables_nft_tables = {}
  for i = 2, 3 do
    for _, tname in ipairs(results[i] and results[i].tables or {}) do
      iptables_nft_tables[sources[i][2] .. " " .. tname] = true
    end
  end
  local all = {}
  for i = 1, #sources do
    for _, rule in ipairs(results[i] and results[i].rules or {}) do
      if not (i == 1 and iptables_nft_tables[rule.family .. " " .. rule.table]) then
        all[#all + 1] = rule
      end
    end
  end
  return all, failures
end

----------------------------------------------------------------------------
-- match(): which rules stop this packet
----------------------------------------------------------------------------

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

local function hit_record(rule, certain, why, hook)
  local r = {}
  for k, v in pairs(rule) do
    r[k] = v
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
      if a == "drop" or a == "reject" then
        ctx.hits[#ctx.hits + 1] = hit_record(rule, certain, why, ctx.hook)
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
        local v = walk(chains, target, pkt, ctx, depth + 1, certain_path and m == true)
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

local function default_saddr(addr, family)
  if ipaddr.is_loopback(addr) then
    return family == "inet" and "127.0.0.1" or "::1"
  end
end

local function hooks_for(direction, loopback)
  if direction == "in" then
    return { "prerouting", "input" }
  elseif direction == "out" then
    return { "output", "postrouting" }
  elseif loopback then
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
  return proto, family
end

--- cr.firewall.match{proto, addr, port [, direction] [, saddr] [, sport]
--- [, iif] [, oif] [, rules] [, netns]} -> hits, info; or nil, reason.
--- hits: the drop/reject rules (and policies) this packet meets, in evaluation
--- order, each with certain = true|false and, when false, uncertain = {why}.
--- info: {verdict = "drop"|"accept"|"unknown", hooks, doubts (accept rules that
--- might have let it through), notes}.
function firewall.match(q)
  local proto, family = check_match_args(q)
  local rules = q.rules
  if rules == nil then
    local err
    rules, err = firewall.rules(q.netns)
    if not rules then
      return nil, err
    end
  end
  local loopback = ipaddr.is_loopback(q.addr)
  local pkt = {
    proto = proto, family = family, addr = q.addr, port = q.port, sport = q.sport, ctstate = "new",
    saddr = q.saddr or default_saddr(q.addr, family),
  }
  local chains, bases = index_chains(rules)
  local hooks = hooks_for(q.direction, loopback)
  local ctx = { hits = {}, doubts = {}, notes = {} }
  local verdict = "accept"
  for _, hook in ipairs(hooks) do
    local inbound = hook == "prerouting" or hook == "input"
    -- a hook that has no input interface has iif "" (never matches a name)
    pkt.iif = inbound and (q.iif or (loopback and "lo" or nil)) or false
    pkt.oif = (not inbound) and (q.oif or (loopback and "lo" or nil)) or false
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
        return ctx.hits, { verdict = "drop", hooks = hooks, doubts = ctx.doubts, notes = ctx.notes }
      elseif v == "maybe-drop" then
        verdict = "unknown"
      end
    end
  end
  if #ctx.hits > 0 then
    verdict = "unknown"
  end
  return ctx.hits, { verdict = verdict, hooks = hooks, doubts = ctx.doubts, notes = ctx.notes }
end

return firewall
