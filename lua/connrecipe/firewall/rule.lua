-- Shared pieces of the firewall parsers: port ranges, protocol names and the
-- normalised rule record (see connrecipe.firewall).
local M = {}

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


M.IPT_HOOKS = IPT_HOOKS
M.IPT_PRIORITY = IPT_PRIORITY
M.port_range = port_range
M.proto_name = proto_name
M.summarise = summarise
M.new = new_rule

--- A DNAT destination as iptables writes it (`10.0.0.2:80`, `[fd00::2]:80`,
--- `10.0.0.2`, `10.0.0.2:80-81`) -> {addr, port} (port nil: unchanged); nil
--- for a range of addresses, which no single endpoint stands for.
function M.dnat_destination(v)
  local addr, port = v:match("^%[([%x:.]+)%]:?(%d*)")
  if not addr then
    addr, port = v:match("^([%d.]+):?(%d*)")
  end
  if not addr then
    addr, port = v:match("^([%x:]+)$"), ""
  end
  if not addr or v:find("^[^%[]*%d%-%d.*:") then -- 10.0.0.2-10.0.0.9:80: a range
    return nil
  end
  return { addr = addr, port = tonumber(port) }
end

return M
