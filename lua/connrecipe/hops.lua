-- Forwarders read from their command lines (never run): where a program that
-- accepted a connection sends it on. Pure: a command line (a list of words)
-- in, the upstream out.
--
-- hops.forwarder(cmdline, port) -> nil (not a forwarder we know, or a socat that
-- serves rather than forwards), or
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

-- socat's address types by what they do with the connection socat accepted
-- (socat [options] ADDRESS ADDRESS; the type before ':' or ',', any case):
-- "listen" accepts it (the listener diagnose looked at); "forward" connects
-- onwards, so socat is a hop; "serve" ends it in socat itself (a program it
-- runs, a file, its stdio, a pty: socat is the server, not a forwarder).
local SOCAT_KIND = {}
for role, kinds in pairs {
  listen = { "TCP-LISTEN", "TCP-L", "TCP4-LISTEN", "TCP4-L", "TCP6-LISTEN", "TCP6-L", "OPENSSL-LISTEN", "SSL-L",
    "UNIX-LISTEN", "UNIX-L", "ABSTRACT-LISTEN", "ACCEPT-FD", "SCTP-LISTEN", "SCTP4-LISTEN", "SCTP6-LISTEN",
    "UDP-LISTEN", "UDP4-LISTEN", "UDP6-LISTEN", "UDP-RECVFROM", "UDP4-RECVFROM", "UDP6-RECVFROM", "VSOCK-LISTEN",
    "DCCP-LISTEN", "OPENSSL-DTLS-SERVER", "UNIX-RECVFROM", "UNIX-RECV", "ABSTRACT-RECVFROM", "ABSTRACT-RECV" },
  forward = { "TCP", "TCP4", "TCP6", "TCP-CONNECT", "TCP4-CONNECT", "TCP6-CONNECT", "UNIX-CONNECT", "UNIX-CLIENT",
    "UNIX-SENDTO", "ABSTRACT-CONNECT", "ABSTRACT-CLIENT", "ABSTRACT-SENDTO", "OPENSSL", "OPENSSL-CONNECT", "SSL",
    "OPENSSL-DTLS-CLIENT", "UDP", "UDP4", "UDP6", "UDP-CONNECT", "UDP4-CONNECT", "UDP6-CONNECT", "UDP-SENDTO",
    "UDP4-SENDTO", "UDP6-SENDTO", "UDP-DATAGRAM", "UDP4-DATAGRAM", "UDP6-DATAGRAM", "SCTP", "SCTP4", "SCTP6",
    "SCTP-CONNECT", "SCTP4-CONNECT", "SCTP6-CONNECT", "DCCP", "DCCP-CONNECT", "SOCKS4", "SOCKS4A", "SOCKS5",
    "SOCKS5-CONNECT", "PROXY", "PROXY-CONNECT", "VSOCK", "VSOCK-CONNECT", "IP-SENDTO", "IP4-SENDTO", "IP6-SENDTO",
    "IP-DATAGRAM", "IP4-DATAGRAM", "IP6-DATAGRAM", "SOCKET-CONNECT", "SOCKET-SENDTO", "SOCKET-DATAGRAM",
    "TUN", "INTERFACE" },
  serve = { "SYSTEM", "EXEC", "SHELL", "FILE", "OPEN", "CREATE", "CREAT", "GOPEN", "STDIO", "-", "STDIN", "STDOUT",
    "STDERR", "FD", "PIPE", "PTY", "READLINE", "POSIXMQ-READ", "POSIXMQ-SEND",
    "POSIXMQ-BIDIRECTIONAL", "POSIXMQ-RECEIVE" },
} do
  for _, kind in ipairs(kinds) do
    SOCAT_KIND[kind] = role
  end
end

-- An address's type and role. socat reads an address without a type as
-- GOPEN when it has a '/' and as FD when it is a number: both serve.
local function socat_kind(word)
  local kind = word:match("^([%w-]+)")
  kind = kind and kind:upper()
  if SOCAT_KIND[kind] and (word:sub(#kind + 1, #kind + 1)):find("^[:,!]?$") then
    return kind, SOCAT_KIND[kind]
  elseif word:find("^%d+$") or (not word:find(":") and word:find("/")) then
    return word:find("/") and "GOPEN" or "FD", "serve"
  end
  return kind, nil
end

-- The upstream of a forwarding address diagnose can follow: TCP:host:port,
-- TCP4:, TCP6: (bracketed), TCP-CONNECT:, UNIX-CONNECT:path, UNIX-CLIENT:path
-- (options after a comma); nil for the others (UDP, OPENSSL, SOCKS...).
local function socat_upstream(kind, word)
  local rest = word:match("^[^:]*:(.*)$")
  rest = rest and rest:gsub(",.*$", "")
  if not rest or rest == "" then
    return nil
  elseif kind == "UNIX-CONNECT" or kind == "UNIX-CLIENT" then
    return { path = rest }
  elseif kind:match("^TCP[46]?$") or kind:match("^TCP[46]?%-CONNECT$") then
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

-- socat is a forwarder when one of its two addresses (its last two words:
-- options come first) connects onwards; when the other one serves (SYSTEM:,
-- EXEC:, a file...), socat is the server itself and not a hop at all.
local function socat(cmdline)
  local tls_ends, forward, unknown
  for i = math.max(2, #cmdline - 1), #cmdline do
    local kind, role = socat_kind(cmdline[i])
    tls_ends = tls_ends or TLS_LISTEN[kind]
    if role == "forward" then
      forward = forward or { kind = kind, word = cmdline[i] }
    elseif role == nil then
      unknown = unknown or (kind and ("%s address"):format(kind:sub(1, 32))) or "address"
    end
  end
  if forward then
    local up = socat_upstream(forward.kind, forward.word)
    if up then
      return { tool = "socat", upstream = up, tls_ends = tls_ends }
    end
    return { tool = "socat", why = ("its %s address is not a TCP or Unix socket address diagnose can follow")
      :format(forward.kind) }
  elseif unknown then -- a type diagnose does not know: it may forward
    return { tool = "socat", why = ("diagnose does not know where socat's %s sends the connection"):format(unknown) }
  end
  return nil -- it listens and serves: a server, not a hop
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
