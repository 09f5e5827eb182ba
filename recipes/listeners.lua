-- What is listening on this host and who owns it: the ss -tulnp replacement.
-- TCP LISTEN, unconnected UDP and listening Unix sockets, with every process
-- holding each one, its user, systemd unit or container and namespace.
local json = require "connrecipe.json"

-- The table itself is rendered in C (cr.format_sockets): sorted by protocol,
-- address and port, it stays fast at 50k listeners.
local function print_table(socks, info, opts)
  io.stdout:write(cr.format_sockets(socks, { netns = opts.all_netns }))
  if opts.all_netns and (info.namespaces_unreadable or 0) > 0 then
    io.stderr:write(("connrecipe: listeners: the network namespace of %d process(es) could not be read "
      .. "(not root, or a security module): a namespace only they are in is not shown\n"):format(
        info.namespaces_unreadable))
  end
  if (info.owners_unknown or 0) > 0 then
    io.stderr:write(("connrecipe: listeners: %d socket(s) with no visible owner (%s)\n"):format(
      info.owners_unknown,
      (info.processes_no_fds or 0) > 0
          and "connrecipe reached its limit on open files while reading /proc: raise ulimit -n"
        or (info.processes_unreadable or 0) > 0
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
