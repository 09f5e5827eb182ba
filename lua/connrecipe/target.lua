-- Target strings, as users type them: host:port, [v6]:port, a bare port,
-- URLs with their schemes' default ports, unix:/path, unix:@abstract and
-- absolute socket paths. Shared by every recipe that takes a target.
local ipaddr = require "connrecipe.ipaddr"

local target = {}

--- Default ports of URL schemes.
target.default_ports = {
  http = 80, https = 443, ws = 80, wss = 443, ftp = 21, ftps = 990, ssh = 22, sftp = 22,
  telnet = 23, smtp = 25, smtps = 465, submission = 587, dns = 53, pop3 = 110, pop3s = 995,
  imap = 143, imaps = 993, ldap = 389, ldaps = 636, postgres = 5432, postgresql = 5432,
  mysql = 3306, mariadb = 3306, redis = 6379, rediss = 6379, amqp = 5672, amqps = 5671,
  mongodb = 27017, memcached = 11211, mqtt = 1883, mqtts = 8883, nats = 4222, kafka = 9092,
  rtsp = 554, sip = 5060, vnc = 5900, rdp = 3389, git = 9418, rsync = 873, ntp = 123,
  mssql = 1433, sqlserver = 1433, oracle = 1521, cassandra = 9042, elasticsearch = 9200,
  zookeeper = 2181, etcd = 2379, consul = 8500, prometheus = 9090, grpc = 443,
}

local function parse_port(text, whole)
  if not text:match("^%d+$") then
    return nil, ("bad port '%s' in '%s' (expected a number 1-65535)"):format(text, whole)
  end
  local port = tonumber(text)
  if port < 1 or port > 65535 then
    return nil, ("port %s out of range 1-65535 in '%s'"):format(text, whole)
  end
  return port
end

local function is_ipv6_literal(host)
  return host:find(":", 1, true) ~= nil
end

-- The length limits of a DNS name (RFC 1035): 253 characters without the
-- trailing dot, 63 in a label, and no empty label; and no control character. Resolvers reject longer
-- names in their own ways (EAI_NONAME, EAI_FAIL, a raised argument error).
local function check_name(host, whole)
  if host:find("[%z\1-\31\127]") then
    return nil, ("control character in host name '%s'"):format(whole)
  end
  local name = host:gsub("%.$", "")
  if #name > 253 then
    return nil, ("host name of %d characters (at most 253) in '%s...'"):format(#name, whole:sub(1, 40))
  end
  for label in (name .. "."):gmatch("([^.]*)%.") do
    if #label > 63 then
      return nil, ("label '%s...' of %d characters (at most 63) in host name '%s...'"):format(label:sub(1, 20),
        #label, whole:sub(1, 40))
    elseif label == "" then
      return nil, ("empty label in host name '%s'"):format(whole)
    end
  end
  return true
end

-- An address, or a name within DNS's length limits.
local function check_host(host, whole)
  if host == "0" or is_ipv6_literal(host) or ipaddr.parse(host) then
    return true
  end
  return check_name(host, whole)
end

--- target.check_host(host) -> true, or nil, message: an IP address, or a
--- name within DNS's length limits (253 characters, 63 in a label).
function target.check_host(host)
  return check_host(host, host)
end

--- "host:port" or "[v6]:port" (or just a host when a default port is given)
local function parse_hostport(text, whole, default_port)
  local host, rest
  if text:sub(1, 1) == "[" then
    local close = text:find("]", 1, true)
    if not close then
      return nil, ("unclosed '[' in '%s'"):format(whole)
    end
    host, rest = text:sub(2, close - 1), text:sub(close + 1)
    if host == "" or not is_ipv6_literal(host) then
      return nil, ("'[%s]' is not an IPv6 address in '%s'"):format(host, whole)
    end
    if rest ~= "" and rest:sub(1, 1) ~= ":" then
      return nil, ("unexpected '%s' after ']' in '%s'"):format(rest, whole)
    end
    rest = rest:sub(2)
  else
    local colons = select(2, text:gsub(":", ""))
    if colons > 1 then
      return nil, ("IPv6 addresses need brackets, as in [::1]:8080, in '%s'"):format(whole)
    end
    host, rest = text:match("^([^:]*):?(.*)$")
  end
  if host == "" then
    return nil, ("missing host in '%s'"):format(whole)
  end
  local ok, why = check_host(host, whole)
  if not ok then
    return nil, why
  end
  if rest == "" then
    if not default_port then
      return nil, ("no port in '%s' (use host:port)"):format(whole)
    end
    return host, default_port
  end
  local port, err = parse_port(rest, whole)
  if not port then
    return nil, err
  end
  return host, port
end

-- The address a connection to this literal reaches: the kernel sends one to
-- 0.0.0.0 ("0") to 127.0.0.1 and one to :: to ::1, and an IPv4-mapped IPv6
-- address (::ffff:127.0.0.1) is IPv4 on the wire; nil for anything else.
local function connect_address(host)
  if host == "0" then
    return "127.0.0.1"
  end
  local family, bytes = ipaddr.parse(host)
  if not family then
    return nil
  end
  local mapped = ipaddr.unmap(host)
  if mapped ~= host then
    return mapped
  end
  for _, b in ipairs(bytes) do
    if b ~= 0 then
      return nil
    end
  end
  return family == "inet" and "127.0.0.1" or "::1"
end

-- An inet target; host is the address connections go to (see
-- connect_address), given_host what the user wrote when that differs.
local function inet(host, port, fields)
  local t = fields or {}
  t.kind, t.port = "inet", port
  t.host = connect_address(host) or host
  t.given_host = t.host ~= host and host or nil
  t.display = (is_ipv6_literal(host) and ("[" .. host .. "]") or host) .. ":" .. port
  return t
end

local function parse_url(text, scheme, rest)
  scheme = scheme:lower()
  local authority, path = rest:match("^([^/?#]*)(.*)$")
  authority = authority:gsub("^.*@", "") -- user:password@ is not ours to show
  if authority == "" then
    return nil, ("missing host in '%s'"):format(text)
  end
  local default = target.default_ports[scheme]
  local host, port = parse_hostport(authority, text, default or false)
  if not host then
    if port and port:match("^no port") then
      return nil, ("unknown scheme '%s' and no port in '%s'"):format(scheme, text)
    end
    return nil, port
  end
  -- the URL as shown and reported: without user:password@
  local shown = text:gsub("^([^:]+://)[^/?#]*@", "%1")
  return inet(host, port, { scheme = scheme, url = shown, path = path ~= "" and path or nil })
end

local function unix(path, text)
  if path == "" or path == "@" then
    return nil, ("missing socket path in '%s'"):format(text)
  end
  if #path > 107 then -- sun_path holds 108 bytes with the terminating NUL
    return nil, ("socket path longer than 107 bytes in '%s'"):format(text)
  end
  local abstract = path:sub(1, 1) == "@"
  return { kind = "unix", path = path, abstract = abstract, display = "unix:" .. path }
end

--- target.parse(text [, {default_port = n}]) -> target table, or nil, message
--- Targets: {kind = "inet", host, given_host, port, display [, scheme, url,
--- path]} or {kind = "unix", path, abstract, display}. host is where a
--- connection goes: 0, 0.0.0.0 and :: (this host) are 127.0.0.1 or ::1, and
--- ::ffff:a.b.c.d is a.b.c.d; given_host is the host as written, when it
--- is not host.
function target.parse(text, opts)
  if type(text) ~= "string" or text:match("^%s*$") then
    return nil, "empty target"
  end
  if text:match("%s") then
    return nil, ("unexpected space in '%s'"):format(text)
  end
  local default_port = opts and opts.default_port or false
  if text:match("^%d+$") then -- a bare port means this host
    local port, err = parse_port(text, text)
    if not port then
      return nil, err
    end
    return inet("localhost", port)
  end
  local upath = text:match("^unix:(.*)$")
  if upath then
    return unix(upath, text)
  end
  if text:sub(1, 1) == "/" then
    return unix(text, text)
  end
  local scheme, rest = text:match("^([%a][%w+.-]*)://(.*)$")
  if scheme then
    return parse_url(text, scheme, rest)
  end
  local host, port = parse_hostport(text, text, default_port)
  if not host then
    return nil, port
  end
  return inet(host, port)
end

return target
