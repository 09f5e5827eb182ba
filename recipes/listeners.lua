-- What is listening on this host and who owns it: the ss -tulnp replacement.
-- TCP LISTEN, unconnected UDP and listening Unix sockets, with every process
-- holding each one, its user, systemd unit or container and namespace.
local json = require "connrecipe.json"

-- "127.0.0.1:80", "[::1]:80", "*:80 (v4+v6)" for a dual-stack wildcard, a Unix path
local function endpoint(s)
  if s.family == "inet" then
    return s.addr .. ":" .. s.port
  end
  if s.family == "unix" then
    return s.path or ("(unnamed, inode " .. s.inode .. ")")
  end
  if s.family == "inet6" then
    if s.addr == "::" and s.v6only == false then
      return ("*:%d (v4+v6)"):format(s.port)
    end
    return ("[%s]:%d"):format(s.addr, s.port)
  end
  return s.addr .. ":" .. s.port
end

local function owners_text(s)
  local ps = s.processes
  if not ps or #ps == 0 then
    return s.owner_unknown and "?" or "-"
  end
  local parts = {}
  for i = 1, math.min(#ps, 3) do
    parts[i] = ("%s/%d"):format(ps[i].comm, ps[i].pid)
  end
  if #ps > 3 then
    parts[#parts + 1] = ("+%d more"):format(#ps - 3)
  end
  return table.concat(parts, ",")
end

local function where_text(s)
  local p = s.processes and s.processes[1]
  if p and p.container then
    return "container " .. p.container
  end
  if s.container then
    return "container " .. s.container:sub(1, 12)
  end
  return p and p.unit or "-"
end

-- Rows are built as strings in one pass and sorted as strings (no Lua
-- comparator): a table of 50k listeners stays fast.
local function print_table(socks, info, opts)
  local cols = { proto = 5, ep = 13, q = 6, procs = 7, user = 4, where = 14 }
  local eps, procs, users, wheres = {}, {}, {}, {}
  for i, s in ipairs(socks) do
    local ep, pr = endpoint(s), owners_text(s)
    local user = s.user or (s.uid and tostring(s.uid)) or "-"
    local where = where_text(s)
    if opts.all_netns then -- one more column: pad this one
      where = ("%-14s  %s"):format(where, s.netns_name or tostring(s.netns))
    end
    eps[i], procs[i], users[i], wheres[i] = ep, pr, user, where
    if #ep > cols.ep then
      cols.ep = math.min(#ep, 60)
    end
    if #pr > cols.procs then
      cols.procs = math.min(#pr, 40)
    end
    if #user > cols.user then
      cols.user = math.min(#user, 16)
    end
    if #where > cols.where then
      cols.where = math.min(#where, 40)
    end
  end
  local fmt = ("%%-%ds  %%-%ds  %%6d  %%6d  %%-%ds  %%-%ds  %%s"):format(cols.proto, cols.ep, cols.procs,
    cols.user)
  local lines = {}
  for i, s in ipairs(socks) do
    lines[i] = fmt:format(s.proto, eps[i], s.recvq, s.sendq, procs[i], users[i], wheres[i])
  end
  table.sort(lines)
  local header = fmt:gsub("%%6d", "%%6s"):format("PROTO", "LOCAL ADDRESS", "RECV-Q", "SEND-Q", "PROCESS", "USER",
    opts.all_netns and ("%-14s  NETNS"):format("UNIT/CONTAINER") or "UNIT/CONTAINER")
  lines[#lines + 1] = ""
  io.stdout:write(header, "\n", table.concat(lines, "\n"))
  if (info.owners_unknown or 0) > 0 then
    io.stderr:write(("connrecipe: listeners: %d socket(s) with no visible owner (%s)\n"):format(
      info.owners_unknown,
      (info.processes_unreadable or 0) > 0
          and ("the fds of %d process(es) could not be read: not root, hidepid or a security module")
            :format(info.processes_unreadable)
        or "held outside this pid namespace or by the kernel"))
  end
end

-- JSON written directly: the fixed shape of a socket row, fast for 50k rows
-- (json.encode sorts every key of the document, which is slow at that size).
local function jstr(v)
  return '"' .. json.utf8(v):gsub('[%c"\\]', function(c)
    return ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function jval(v)
  local t = type(v)
  if t == "string" then
    return jstr(v)
  elseif t == "number" or t == "boolean" then
    return tostring(v)
  end
  return "null"
end

local row_fields = { "proto", "family", "addr", "port", "state", "inode", "uid", "v6only", "netns", "recvq",
  "sendq", "drops", "owner_unknown" }

local function json_row(s)
  local parts = {}
  local row = { addr = s.addr or s.path }
  for _, k in ipairs(row_fields) do
    local v = row[k]
    if v == nil then
      v = s[k]
    end
    if v ~= nil then
      parts[#parts + 1] = jstr(k) .. ":" .. jval(v)
    end
  end
  local procs = {}
  for i, p in ipairs(s.processes or {}) do
    procs[i] = ('{"pid":%d,"comm":%s}'):format(p.pid, jstr(p.comm))
  end
  parts[#parts + 1] = '"processes":[' .. table.concat(procs, ",") .. "]"
  return "{" .. table.concat(parts, ",") .. "}"
end

local function print_json(socks, info)
  local rows = {}
  for i, s in ipairs(socks) do
    rows[i] = json_row(s)
  end
  io.stdout:write('{"recipe":"listeners","sources":', json.encode(info.sources or {}), ',"sockets":[',
    table.concat(rows, ","), "]}\n")
end

return cr.recipe {
  name = "listeners",
  description = "What is listening on this host and who owns it: the ss -tulnp replacement.",
  params = {
    { "proto", choices = { "tcp", "udp", "unix" }, metavar = "P", help = "only this protocol" },
    { "port", type = "integer", min = 0, max = 65535, metavar = "N", help = "only this port" },
    { "all-netns", type = "boolean", help = "every network namespace, not just this one" },
    { "processes", type = "boolean", default = true, help = "find the owning processes (--no-processes: faster)" },
  },
  run = function(_, opts)
    local socks, info = cr.listeners({
      proto = opts.proto, port = opts.port, processes = opts.processes,
      netns = opts.all_netns and "all" or "self",
    })
    if not socks then
      io.stderr:write("connrecipe: listeners: ", info, "\n")
      return 1
    end
    if cr.cli.json then
      print_json(socks, info)
    else
      print_table(socks, info, opts)
    end
    return 0
  end,
}
