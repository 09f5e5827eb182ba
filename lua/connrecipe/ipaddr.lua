-- IP address parsing and prefix (CIDR) matching in plain Lua, for no_proxy
-- rules and firewall address matches.
local ipaddr = {}

local function parse4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then
    return nil
  end
  local bytes = { tonumber(a), tonumber(b), tonumber(c), tonumber(d) }
  for _, x in ipairs(bytes) do
    if x > 255 then
      return nil
    end
  end
  return bytes
end

local function parse6(s)
  s = s:gsub("%%.*$", "")
  if not s:match("^[%x:%.]+$") or not s:find(":", 1, true) then
    return nil
  end
  -- an embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups
  local head, v4 = s:match("^(.*:)(%d+%.%d+%.%d+%.%d+)$")
  if head then
    local b = parse4(v4)
    if not b then
      return nil
    end
    s = head .. ("%x:%x"):format(b[1] * 256 + b[2], b[3] * 256 + b[4])
  end
  local left, right = s:match("^(.-)::(.*)$")
  local groups = {}
  local function split(part, into)
    if part == "" then
      return true
    end
    for g in (part .. ":"):gmatch("([^:]*):") do
      if not g:match("^%x%x?%x?%x?$") then
        return false
      end
      into[#into + 1] = tonumber(g, 16)
    end
    return true
  end
  if left then
    local l, r = {}, {}
    if not split(left, l) or not split(right, r) or #l + #r > 7 then
      return nil
    end
    for _, g in ipairs(l) do
      groups[#groups + 1] = g
    end
    for _ = 1, 8 - #l - #r do
      groups[#groups + 1] = 0
    end
    for _, g in ipairs(r) do
      groups[#groups + 1] = g
    end
  else
    if not split(s, groups) or #groups ~= 8 then
      return nil
    end
  end
  local bytes = {}
  for _, g in ipairs(groups) do
    bytes[#bytes + 1] = g >> 8
    bytes[#bytes + 1] = g & 0xff
  end
  return bytes
end

--- ipaddr.parse(s) -> family ("inet"|"inet6"), bytes; or nil. Brackets
--- around IPv6 ([::1]) are accepted.
function ipaddr.parse(s)
  if type(s) ~= "string" then
    return nil
  end
  s = s:match("^%[(.*)%]$") or s
  local b = parse4(s)
  if b then
    return "inet", b
  end
  b = parse6(s)
  if b then
    return "inet6", b
  end
  return nil
end

--- ipaddr.unmap(addr) -> "a.b.c.d" for an IPv4-mapped IPv6 address
--- (::ffff:a.b.c.d, in any spelling): IPv4 on the wire. Anything else is
--- returned as it is.
function ipaddr.unmap(addr)
  local family, b = ipaddr.parse(addr)
  if family ~= "inet6" then
    return addr
  end
  for i = 1, 10 do
    if b[i] ~= 0 then
      return addr
    end
  end
  if b[11] ~= 0xff or b[12] ~= 0xff then
    return addr
  end
  return ("%d.%d.%d.%d"):format(b[13], b[14], b[15], b[16])
end

--- ipaddr.parse_prefix("10.0.0.0/8") -> family, bytes, bits; a plain address
--- has the full length. nil when malformed.
function ipaddr.parse_prefix(s)
  local addr, bits = s:match("^(.-)/(%d+)$")
  local family, bytes = ipaddr.parse(addr or s)
  if not family then
    return nil
  end
  local max = family == "inet" and 32 or 128
  bits = bits and tonumber(bits) or max
  if bits > max then
    return nil
  end
  return family, bytes, bits
end

--- ipaddr.in_prefix(addr, prefix) -> true/false; nil when either does not parse.
--- An IPv4-mapped IPv6 address (::ffff:a.b.c.d) does not match an IPv4 prefix.
function ipaddr.in_prefix(addr, prefix)
  local fa, ba = ipaddr.parse(addr)
  local fp, bp, bits = ipaddr.parse_prefix(prefix)
  if not fa or not fp then
    return nil
  end
  if fa ~= fp then
    return false
  end
  for i = 1, #bp do
    local take = math.min(8, bits - (i - 1) * 8)
    if take <= 0 then
      break
    end
    local mask = (0xff << (8 - take)) & 0xff
    if (ba[i] & mask) ~= (bp[i] & mask) then
      return false
    end
  end
  return true
end

--- ipaddr.is_loopback(addr) -> 127.0.0.0/8 or ::1
function ipaddr.is_loopback(addr)
  return ipaddr.in_prefix(addr, "127.0.0.0/8") or ipaddr.in_prefix(addr, "::1/128") or false
end

return ipaddr
