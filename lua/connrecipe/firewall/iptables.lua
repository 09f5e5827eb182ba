-- iptables-save / ip6tables-save output (nft and legacy back ends) ->
-- normalised rules (see connrecipe.firewall).
local util = require "connrecipe.sysutil"
local R = require "connrecipe.firewall.rule"

local IPT_HOOKS, IPT_PRIORITY = R.IPT_HOOKS, R.IPT_PRIORITY
local port_range, proto_name, summarise, new_rule = R.port_range, R.proto_name, R.summarise, R.new

local iptables = {}

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
      elseif t == "--to-destination" and rule.target == "DNAT" then
        rule.dnat = R.dnat_destination(v)
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
function iptables.parse(text, family, backend)
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


return iptables
