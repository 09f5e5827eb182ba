-- `nft -j list ruleset` (parsed with lua-cjson) and `nft -a list ruleset`
-- (for each rule's text) -> normalised rules (see connrecipe.firewall).
local util = require "connrecipe.sysutil"
local R = require "connrecipe.firewall.rule"

local port_range, proto_name, summarise, new_rule = R.port_range, R.proto_name, R.summarise, R.new

local nft = {}

-- A short text form of a JSON value, for `unknown` lists.
local function describe(x)
  if type(x) == "userdata" then
    return "null" -- cjson.null
  elseif type(x) ~= "table" then
    return tostring(x)
  end
  local parts = {}
  for k, v in pairs(x) do
    parts[#parts + 1] = tostring(k) .. ": " .. describe(v)
  end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
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

-- A verdict map's key against one element's value -> the conditions, or nil:
-- a concatenation (ip daddr . meta l4proto . th dport, as kube-proxy's
-- no-endpoint-services) is one condition per part.
local function vmap_conditions(key, value, sets, family, table_name)
  if type(value) == "table" and type(value.elem) == "table" then
    value = value.elem.val
  end
  if type(key) == "table" and type(key.concat) == "table" then
    if type(value) ~= "table" or type(value.concat) ~= "table" or #value.concat ~= #key.concat then
      return nil
    end
    local out = {}
    for i, part in ipairs(key.concat) do
      local cond = nft_condition({ op = "==", left = part, right = value.concat[i] }, sets, family, table_name)
      if not cond then
        return nil
      end
      out[#out + 1] = cond
    end
    return out
  end
  local cond = nft_condition({ op = "==", left = key, right = value }, sets, family, table_name)
  return cond and { cond }
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
    elseif key == "dnat" and type(value) == "table" then
      rule.target = "DNAT" -- one address (not a map, not a range) names the endpoint
      rule.dnat = type(value.addr) == "string" and { addr = value.addr, port = math.tointeger(value.port) } or nil
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
  -- tcp dport vmap { 22 : accept, 80 : drop }, or vmap @name (a named map)
  local out = {}
  local entries = type(vmap.data) == "table" and vmap.data.set
  if type(vmap.data) == "string" and vmap.data:sub(1, 1) == "@" then
    entries = sets[("map %s %s %s"):format(r.family, r.table, vmap.data:sub(2))]
  end
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
    local conds = type(pair) == "table" and vmap_conditions(vmap.key, pair[1], sets, r.family, r.table)
    local elem = type(pair) == "table" and type(pair[1]) == "table" and pair[1].elem
    if type(elem) == "table" and type(elem.comment) == "string" then
      copy.comment = elem.comment -- kube-proxy names the Service here
    end
    local verdict = type(pair) == "table" and type(pair[2]) == "table" and pair[2]
    local vk, vv
    if verdict then
      vk, vv = next(verdict)
    end
    if conds and VERDICTS[vk] then
      for _, cond in ipairs(conds) do
        copy.conds[#copy.conds + 1] = cond
      end
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
function nft.parse(json_text, listing)
  if type(json_text) ~= "string" then
    return nil, "nft output is not text"
  end
  local doc, err = util.json_decode(json_text)
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
    elseif type(item.map) == "table" and item.map.map == "verdict" then -- a named verdict map (vmap @name)
      local m = item.map
      sets["map " .. tostring(m.family) .. " " .. tostring(m.table) .. " " .. tostring(m.name)] = m.elem or {}
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



return nft
