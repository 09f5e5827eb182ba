-- Who holds this port or socket path ("address already in use"), since when, in which unit.
-- For PORT, ADDR:PORT, /path/to.sock or @abstract: every
-- socket bound to it, the processes holding each, their process tree line,
-- systemd unit or container and how long they have been running.
-- A socket path no socket in the table holds is probed: a stale file (the
-- server died and left it), not a socket, or served from another network
-- namespace.
-- Exit code: 0 someone holds it, 1 nobody does (free, or a stale file), 2 bad input.
local containers = require "connrecipe.containers"
local json = require "connrecipe.json"
local ipaddr = require "connrecipe.ipaddr"

-- Each line of the text output has its control bytes escaped (cr.text.escape):
-- process names, command lines and socket paths are other users' choice.
local escape = cr.text.escape

-- -> {port = n, addr = "..."|nil} or {path = "..."}
local function parse_target(s)
  if not s then
    return nil, "expected PORT, ADDR:PORT or a socket path"
  end
  if s:sub(1, 1) == "/" or s:sub(1, 1) == "@" then
    return { path = s, text = s }
  end
  local addr, port = s:match("^%[([^%]]+)%]:(%d+)$")
  if not addr then
    addr, port = s:match("^([^:]+):(%d+)$")
  end
  if not addr then
    port = s:match("^(%d+)$")
  end
  port = math.tointeger(tonumber(port))
  if not port or port < 1 or port > 65535 then
    return nil, ("'%s' is not PORT, ADDR:PORT or a socket path"):format(s)
  end
  if addr == "0" then -- as servers print it: 0.0.0.0
    addr = "0.0.0.0"
  end
  if addr and not ipaddr.parse(addr) then
    return nil, ("'%s' is not an IP address (whoowns does not resolve names: use 127.0.0.1 or [::1])"):format(addr)
  end
  -- binding ::ffff:127.0.0.1 takes IPv4 127.0.0.1
  return { port = port, addr = addr and ipaddr.unmap(addr:match("^%[(.*)%]$") or addr), text = s }
end

-- The same address, whatever its spelling ([0:0:0:0:0:0:0:1] is ::1,
-- ::ffff:127.0.0.1 is 127.0.0.1)?
local function same_addr(a, b)
  local fa, ba = ipaddr.parse(ipaddr.unmap(a))
  local fb, bb = ipaddr.parse(ipaddr.unmap(b))
  if not fa or fa ~= fb then
    return false
  end
  for i = 1, #ba do
    if ba[i] ~= bb[i] then
      return false
    end
  end
  return true
end

local function is_wildcard(addr)
  return same_addr(addr, "0.0.0.0") or same_addr(addr, "::")
end

-- Would binding addr:port collide with socket s on that port? A wildcard
-- takes every address of its family, a dual-stack [::] the IPv4 ones too --
-- on either side: binding 0.0.0.0 collides with a socket on 127.0.0.1.
-- A socket bound to ::ffff:127.0.0.1 holds IPv4 127.0.0.1.
local function covers(s, addr)
  if not addr or same_addr(s.addr, addr) then
    return true
  end
  local v4 = addr:find(":", 1, true) == nil
  local family = ipaddr.unmap(s.addr) ~= s.addr and "inet" or s.family
  local dual = family == "inet6" and same_addr(s.addr, "::") and s.v6only == false
  if is_wildcard(addr) then
    return (family == "inet") == v4 or (v4 and dual) or (not v4 and family == "inet")
  end
  if family == "inet" then
    return v4 and same_addr(s.addr, "0.0.0.0")
  end
  return same_addr(s.addr, "::") and (not v4 or dual)
end

local function duration(sec)
  sec = math.floor(sec)
  if sec < 120 then
    return sec .. "s"
  elseif sec < 7200 then
    return ("%dm"):format(sec // 60)
  elseif sec < 172800 then
    return ("%dh%02dm"):format(sec // 3600, sec % 3600 // 60)
  end
  return ("%dd%02dh"):format(sec // 86400, sec % 86400 // 3600)
end

-- "systemd(1) > nginx(811) > nginx(812)", at most 8 levels up
local function tree_line(p)
  local chain = { ("%s(%d)"):format(p.comm, p.pid) }
  local ppid = p.ppid
  for _ = 1, 8 do
    if not ppid or ppid == 0 then
      break
    end
    local parent = cr.process.get(ppid)
    if not parent then
      break
    end
    table.insert(chain, 1, ("%s(%d)"):format(parent.comm, parent.pid))
    ppid = parent.ppid
  end
  return table.concat(chain, " > ")
end

local function endpoint(s)
  if s.family == "unix" then
    return s.path
  end
  local dev = s.dev and ("%" .. s.dev) or "" -- bound to a device: "0.0.0.0%eth0:80", as ss shows it
  if s.family == "inet6" then
    return ("[%s]%s:%d%s"):format(s.addr, dev, s.port, (s.addr == "::" and s.v6only == false) and " (v4+v6)" or "")
  end
  return ("%s%s:%d"):format(s.addr, dev, s.port)
end

-- A socket path that no socket in this namespace's table holds: what
-- connecting to it says -> {status, text, exit code}
local function unheld_path(path)
  local r = cr.probe.unix(path)
  local status = r and r.status or "error"
  if status == "refused" then
    return status, ("%s is a stale socket file: no socket is bound to it (the server that created it has exited), "
      .. "so connecting is refused; restart the server, or remove the file: rm %s"):format(path, path), 1
  elseif status == "open" then
    return status, ("%s accepts connections, but no socket in this network namespace holds it: it is bound in "
      .. "another network namespace (a container), or under a relative name; its holder is not known here"):format(
      path), 0
  elseif status == "not-a-socket" then
    return status, ("%s exists and is not a socket: nothing holds it, but binding it fails (EADDRINUSE) until "
      .. "it is moved away"):format(path), 1
  elseif status == "busy" then
    return status, ("%s is a listening socket whose accept queue is full, but no socket in this network namespace "
      .. "holds it: it is bound in another network namespace (a container); its holder is not known here"):format(
      path), 0
  elseif status == "denied" then
    return status, ("no socket in the table holds %s, and connecting to it is not permitted (%s): run as root "
      .. "to tell whether it is stale"):format(path, tostring(r.errno)), 1
  elseif status ~= "missing" then
    return status, ("no socket in the table holds %s, and connecting to it fails (%s): whether it is stale cannot "
      .. "be told"):format(path, tostring(r and r.errno or status)), 1
  end
  return status, ("nothing holds %s: it is free to bind"):format(path), 1
end

local function whoowns(target_arg, target)
  local socks, info = cr.sockets({ port = target.port, processes = true,
    proto = target.path and "unix" or nil })
  if not socks then
    return nil, info
  end
  local found = {}
  for _, s in ipairs(socks) do
    local hit
    if target.path then
      hit = s.path == target.path
    else
      hit = s.family ~= "unix" and s.port == target.port and covers(s, target.addr)
        and (s.state == "listen" or s.state == "unconn" or s.proto == "tcp")
    end
    if hit then
      found[#found + 1] = s
    end
  end
  local report = json.array({})
  local known -- the engine's containers, read once when a holder is in one
  local function container_of(id)
    if not id then
      return nil
    end
    known = known or containers.read().list
    return containers.find(known, id)
  end
  for _, s in ipairs(found) do
    local holders = json.array({})
    for _, o in ipairs(s.processes or {}) do
      local p = cr.process.get(o.pid)
      if p then
        local c = container_of(p.container)
        holders[#holders + 1] = {
          pid = p.pid, comm = p.comm, cmdline = json.array(p.cmdline), user = p.user,
          unit = p.unit, container = p.container, age = p.age, tree = tree_line(p),
          container_name = c and c.name, container_image = c and c.image,
        }
      else
        holders[#holders + 1] = { pid = o.pid, comm = o.comm, exited = true }
      end
    end
    report[#report + 1] = { proto = s.proto, family = s.family, addr = s.addr or s.path,
      port = s.port, state = s.state, inode = s.inode, owner_unknown = s.owner_unknown,
      owner_unknown_reason = s.owner_unknown_reason, holders = holders, endpoint = endpoint(s) }
  end

  -- a file path nothing here holds: stale, not a socket, or held from elsewhere?
  local probe, unheld, code
  if #report == 0 and target.path and target.path:sub(1, 1) == "/" then
    probe, unheld, code = unheld_path(target.path)
  end
  -- a listener bound to the path whose file was deleted (or replaced by
  -- another, stale one) keeps its name in the table: connecting tells
  local detached
  if #report > 0 and target.path and target.path:sub(1, 1) == "/" then
    local listening = false
    for _, r in ipairs(report) do
      listening = listening or r.state == "listen"
    end
    local r = listening and cr.probe.unix(target.path)
    if r and (r.status == "refused" or r.status == "missing" or r.status == "not-a-socket") then
      probe = r.status
      detached = r.status == "missing"
        and ("%s no longer exists: the listener above was bound to it, but its file was deleted, so clients get "
          .. "ENOENT; restart the server to recreate it"):format(target.path)
        or ("%s is no longer the listener above's file: it was deleted and replaced (%s), so connecting is %s; "
          .. "restart the server, or remove the file: rm %s"):format(target.path,
          r.status == "refused" and "a stale socket file" or "not a socket", r.status, target.path)
      code = 1
    end
  end

  local data = { target = target_arg, sockets = report, probe = probe, stale = probe and probe == "refused" or nil,
    note = unheld or detached }
  return data, code or (#report > 0 and 0 or 1)
end

-- The text: each socket, its holders with their process tree, unit or
-- container and age, and what probing a path nothing holds said.
local function text(data)
  local out = {}
  if #data.sockets == 0 then
    out[1] = data.note or ("nothing holds %s: it is free to bind"):format(data.target)
    return escape(out[1]) .. "\n"
  end
  for _, r in ipairs(data.sockets) do
    out[#out + 1] = ("%s %s %s (inode %d)"):format(r.proto, r.endpoint, r.state, r.inode)
    for _, h in ipairs(r.holders) do
      if h.exited then
        out[#out + 1] = ("  %s/%d (exited just now)"):format(h.comm, h.pid)
      else
        local where = h.container and ("container " .. (h.container_name and (h.container_name .. " ("
          .. h.container:sub(1, 12) .. ")") or h.container:sub(1, 12))) or h.unit or "-"
        out[#out + 1] = ("  %s  user %s  %s  up %s"):format(h.tree, h.user or "?", where, duration(h.age))
        out[#out + 1] = "    " .. table.concat(h.cmdline, " ")
      end
    end
    if r.owner_unknown then
      out[#out + 1] = "  owner unknown: " .. (r.owner_unknown_reason or "?")
    end
  end
  out[#out + 1] = data.note
  for i, line in ipairs(out) do
    out[i] = escape(line)
  end
  return table.concat(out, "\n") .. "\n"
end

-- The --json document: the sockets without their display text, and no note
-- (the probe's status says it).
local function document(data)
  local sockets = json.array({})
  for i, r in ipairs(data.sockets) do
    local row = {}
    for k, v in pairs(r) do
      row[k] = v
    end
    row.endpoint = nil
    sockets[i] = row
  end
  return json.encode({ recipe = "whoowns", target = data.target, sockets = sockets, probe = data.probe,
    stale = data.stale })
end

return cr.recipe {
  name = "whoowns",
  description = "Who holds this port or socket path (\"address already in use\"), since when, in which unit.",
  params = {
    { "what", positional = true, parse = parse_target, metavar = "PORT|ADDR:PORT|PATH",
      help = "a port, an address and port, a socket path or @abstract name" },
  },
  run = function(_, args)
    return whoowns(args.what.text, args.what)
  end,
  text = text,
  json = document,
}
