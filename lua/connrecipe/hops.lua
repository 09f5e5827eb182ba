-- Forwarders read from their command lines (never run): where a program that
-- accepted a connection sends it on. Pure: a command line (a list of words)
-- in, the upstream out.
--
-- hops.forwarder(cmdline, port) -> nil (not a forwarder we know), or
-- { tool, upstream = {host, port} | {path} | nil, why (when it cannot be
--   followed from here), tls_ends (the client's TLS ends there: socat
--   OPENSSL-LISTEN) }
local hops = {}

-- The value of a Go-style flag (-name value, -name=value, --name ...).
local function go_flag(cmdline, name)
  for i = 2, #cmdline do
    local w = cmdline[i]
    local flag, value = w:match("^%-%-?([%w-]+)=(.*)$")
    if flag == name then
      return value
    end
    flag = w:match("^%-%-?([%w-]+)$")
    if flag == name then
      return cmdline[i + 1]
    end
  end
end

local function program(cmdline)
  return cmdline[1] and cmdline[1]:match("[^/]+$")
end

local function docker_proxy(cmdline)
  local proto = go_flag(cmdline, "proto") or "tcp"
  local ip, port = go_flag(cmdline, "container-ip"), tonumber(go_flag(cmdline, "container-port"))
  if proto ~= "tcp" or not ip or not port then
    return { tool = "docker-proxy", why = "its command line names no TCP container address" }
  end
  return { tool = "docker-proxy", upstream = { host = ip, port = math.tointeger(port) } }
end

-- socat's connecting address: TCP:host:port, TCP4:, TCP6:, TCP-CONNECT:,
-- UNIX-CONNECT:path (options after a comma).
local function socat_address(word)
  local kind, rest = word:match("^([%w-]+):(.*)$")
  kind = kind and kind:upper()
  if kind == "UNIX-CONNECT" then
    return { path = (rest:gsub(",.*$", "")) }
  end
  if kind == "TCP" or kind == "TCP4" or kind == "TCP6" or kind == "TCP-CONNECT" or kind == "TCP4-CONNECT"
      or kind == "TCP6-CONNECT" then
    rest = rest:gsub(",.*$", "")
    local host, port = rest:match("^%[(.+)%]:(%d+)$")
    if not host then
      host, port = rest:match("^(.+):(%d+)$")
    end
    port = math.tointeger(tonumber(port))
    if host and port and port >= 1 and port <= 65535 then
      return { host = host, port = port }
    end
  end
end

-- socat's TLS-accepting addresses: the client's TLS ends in socat, which
-- speaks plain bytes to its upstream.
local TLS_LISTEN = { ["OPENSSL-LISTEN"] = true, ["SSL-L"] = true }

local function socat(cmdline)
  local tls_ends
  for i = 2, #cmdline do
    local w = cmdline[i]
    if not w:find("^%-") then
      local kind = w:match("^([%w-]+)")
      tls_ends = tls_ends or TLS_LISTEN[kind and kind:upper()]
      local up = socat_address(w)
      if up then
        return { tool = "socat", upstream = up, tls_ends = tls_ends }
      end
    end
  end
  return { tool = "socat", why = "neither of its addresses connects over TCP or to a Unix socket" }
end

-- ssh -L [bind:]port:host:hostport (or -Lport:host:hostport): the
-- connection continues from the ssh server, which this host cannot look into.
local function ssh(cmdline, port)
  for i = 2, #cmdline do
    local w = cmdline[i]
    local spec = w == "-L" and cmdline[i + 1] or w:match("^%-L(.+)$")
    if spec then
      local fields = {}
      for f in (spec .. ":"):gmatch("(.-):") do
        fields[#fields + 1] = f
      end
      if #fields == 4 then
        table.remove(fields, 1) -- the bind address
      end
      if tonumber(fields[1]) == port and fields[2] then
        local dest = fields[3] and (fields[2] .. ":" .. fields[3]) or fields[2]
        local server = cmdline[#cmdline]
        return { tool = "ssh -L", forwards_to = dest,
          why = ("ssh forwards it to %s from the ssh server (%s): diagnose it there"):format(dest, server) }
      end
    end
  end
  return { tool = "ssh", why = "no -L forward of this port on its command line" }
end

local function kubectl(cmdline)
  local words = {}
  for i = 2, #cmdline do
    words[#words + 1] = cmdline[i]
  end
  local joined = table.concat(words, " ")
  if not joined:find("port%-forward") then
    return nil
  end
  local ns = go_flag(cmdline, "namespace") or go_flag(cmdline, "n") or "default"
  local what
  for _, w in ipairs(words) do
    if w:find("^%a+/") then
      what = w
      break
    end
  end
  what = what or "a pod"
  return { tool = "kubectl port-forward", forwards_to = what .. " in namespace " .. ns,
    why = ("kubectl forwards it to %s in namespace %s through the API server, which this host cannot follow: "
      .. "kubectl get %s -n %s"):format(what, ns, what, ns) }
end

local TOOLS = {
  ["docker-proxy"] = docker_proxy,
  socat = socat,
  ssh = ssh,
  kubectl = kubectl,
  rootlesskit = function()
    return { tool = "rootlesskit", why = "rootlesskit's port driver forwards to the rootless namespace; "
      .. "its port map is in its API, not on its command line" }
  end,
  slirp4netns = function()
    return { tool = "slirp4netns", why = "slirp4netns forwards ports added through its API socket, "
      .. "not on its command line" }
  end,
}

--- hops.forwarder(cmdline, port) -> the forwarder a listener's process is, or nil
function hops.forwarder(cmdline, port)
  if type(cmdline) ~= "table" or not cmdline[1] then
    return nil
  end
  local tool = TOOLS[program(cmdline)]
  return tool and tool(cmdline, port)
end

--- hops.endpoint(up) -> "10.0.0.2:80", "[fd00::2]:80" or "unix:/path"
function hops.endpoint(up)
  if up.path then
    return "unix:" .. up.path
  end
  return (up.host:find(":") and ("[%s]:%d") or "%s:%d"):format(up.host, up.port)
end

return hops
