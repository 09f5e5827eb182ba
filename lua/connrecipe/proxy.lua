-- cr.sys.proxy_env / cr.sys.proxy_for: which proxy a curl-like client uses.
-- Follows curl's documented rules (libcurl's url.c and noproxy.c):
--  * http:// URLs read only lowercase http_proxy (HTTP_PROXY is ignored, as
--    it can be set from a CGI "Proxy:" header); other schemes read
--    scheme_proxy then SCHEME_PROXY; then all_proxy, ALL_PROXY.
--  * no_proxy (then NO_PROXY) is a list separated by commas or spaces; "*"
--    alone matches every host; a leading or trailing dot of an entry is
--    ignored and an entry matches the host itself or any name below it
--    (example.com matches www.example.com, not notexample.com); case
--    insensitive; the URL's port never matters (example.com matches
--    example.com:8080) and an entry with a port ("host:8080") matches
--    nothing, as in curl; an IP host is compared with IP entries, with
--    CIDR (192.168.0.0/16, ::1/128) when given.
--  * an empty proxy variable means no proxy.
local util = require "connrecipe.sysutil"
local ipaddr = require "connrecipe.ipaddr"

local proxy = {}

local NAMES = {
  "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ftp_proxy", "FTP_PROXY",
  "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY",
}

--- cr.sys.proxy_env([pid]) -> {name = value} for the proxy variables set in
--- this process's environment or in /proc/PID/environ; or nil, reason.
function proxy.proxy_env(pid)
  local env = {}
  if pid == nil then
    for _, name in ipairs(NAMES) do
      env[name] = os.getenv(name)
    end
    return env
  end
  if not tostring(pid):match("^%d+$") then
    error("bad argument #1 to 'proxy_env' (pid expected, got " .. tostring(pid) .. ")", 2)
  end
  local text, err = util.read("/proc/" .. pid .. "/environ")
  if not text then
    if err:find("not found", 1, true) then
      return nil, "no process " .. pid
    end
    return nil, err
  end
  local wanted = {}
  for _, name in ipairs(NAMES) do
    wanted[name] = true
  end
  for entry in text:gmatch("([^%z]+)") do
    local k, v = entry:match("^([^=]+)=(.*)$")
    if k and wanted[k] then
      env[k] = v
    end
  end
  return env
end

-- "http://user@[::1]:8080/x" -> scheme, host (brackets removed, lowercase), port
local function split_url(url)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then
    scheme, rest = "http", url -- curl guesses http for a bare host
  end
  local authority = rest:match("^([^/?#]*)")
  authority = authority:gsub("^.*@", "")
  local host, port = authority:match("^%[([^%]]+)%]:?(%d*)$")
  if not host then
    host, port = authority:match("^([^:]*):?(%d*)$")
  end
  return scheme:lower(), (host or authority):lower(), tonumber(port)
end

-- Does the no_proxy entry `token` cover `host`?
local function entry_matches(token, host)
  if ipaddr.parse(host) then
    local t = token:match("^%[(.-)%]$") or token
    if not ipaddr.parse_prefix(t) then
      return false
    end
    return ipaddr.in_prefix(host, t) == true
  end
  token = token:gsub("^%.", ""):gsub("%.$", ""):lower()
  if token == "" then
    return false
  end
  if token == host then
    return true
  end
  return #token < #host and host:sub(-#token - 1) == "." .. token
end

--- cr.sys.no_proxy_match(host, no_proxy) -> the entry that matches, or nil
function proxy.no_proxy_match(host, no_proxy)
  if not no_proxy or no_proxy == "" then
    return nil
  end
  if util.trim(no_proxy) == "*" then
    return "*"
  end
  host = host:gsub("%.$", ""):lower()
  for token in no_proxy:gmatch("[^,%s]+") do
    if entry_matches(token, host) then
      return token
    end
  end
  return nil
end

local function first_set(env, names)
  for _, n in ipairs(names) do
    if env[n] ~= nil then
      return env[n], n
    end
  end
end

--- cr.sys.proxy_for(url [, env]) -> proxy, variable name; or nil, reason.
--- env defaults to this process's environment (a table like proxy_env's).
function proxy.proxy_for(url, env)
  if type(url) ~= "string" then
    error("bad argument #1 to 'proxy_for' (URL string expected)", 2)
  end
  env = env or proxy.proxy_env()
  local scheme, host = split_url(url)
  local no_proxy, np_name = first_set(env, { "no_proxy", "NO_PROXY" })
  local hit = proxy.no_proxy_match(host, no_proxy)
  if hit then
    return nil, ("%s entry '%s' matches %s"):format(np_name, hit, host)
  end
  local names = scheme == "http" and { "http_proxy" } or { scheme .. "_proxy", scheme:upper() .. "_PROXY" }
  names[#names + 1] = "all_proxy"
  names[#names + 1] = "ALL_PROXY"
  local value, name = first_set(env, names)
  if value == nil or value == "" then
    if value == "" then
      return nil, name .. " is empty"
    end
    if scheme == "http" and env.HTTP_PROXY then
      return nil, "no proxy variable set (HTTP_PROXY is ignored for http:// URLs, as curl does)"
    end
    return nil, "no proxy variable set"
  end
  return value, name
end

return proxy
