-- listeners.lua [--proto tcp|udp|unix] [--port N] [--all-netns] [--json]
-- What is listening on this host and who owns it: the `ss -tulnp` replacement.
-- TCP LISTEN, unconnected UDP and listening Unix sockets, with every process
-- holding each one, its user, systemd unit or container and namespace.
local json = require "connrecipe.json"

local function usage(msg)
  io.stderr:write("connrecipe: listeners: ", msg, "\n")
  return 2
end

local function parse_args(args)
  local o = { all_netns = false }
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--proto" then
      o.proto = args[i + 1]
      if o.proto ~= "tcp" and o.proto ~= "udp" and o.proto ~= "unix" then
        return nil, "--proto needs tcp, udp or unix"
      end
      i = i + 2
    elseif a == "--port" then
      o.port = math.tointeger(tonumber(args[i + 1]))
      if not o.port or o.port < 0 or o.port > 65535 then
        return nil, "--port needs a port number 0-65535"
      end
      i = i + 2
    elseif a == "--all-netns" then
      o.all_netns = true
      i = i + 1
    else
      return nil, ("unknown argument '%s' (expected --proto P, --port N, --all-netns, --json)"):format(a)
    end
  end
  return o
end

-- "127.0.0.1:80", "[::1]:80", "*:80 (v4+v6)" for a dual-stack wildcard, a Unix path
local function endpoint(s)
  if s.family == "unix" then
    return s.path or ("(unnamed, inode " .. s.inode .. ")")
  end
  if s.family == "inet6" then
    if s.addr == "::" and s.v6only == false then
      return ("*:%d (v4+v6)"):format(s.port)
    end
    return ("[%s]:%d"):format(s.addr, s.port)
  end
  return ("%s:%d"):format(s.addr, s.port)
end

local function owners_text(s)
  local ps = s.processes or {}
  if #ps == 0 then
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

local proto_rank = { tcp = 1, udp = 2, unix = 3 }

local function print_table(socks, info, opts)
  local header = { "PROTO", "LOCAL ADDRESS", "RECV-Q", "SEND-Q", "PROCESS", "USER", "UNIT/CONTAINER" }
  if opts.all_netns then
    header[#header + 1] = "NETNS"
  end
  local rows = {}
  for i, s in ipairs(socks) do
    local row = {
      s.proto, endpoint(s), tostring(s.recvq), tostring(s.sendq), owners_text(s),
      s.user or (s.uid and tostring(s.uid)) or "-", where_text(s),
    }
    if opts.all_netns then
      row[#row + 1] = s.netns_name or tostring(s.netns)
    end
    -- sort by string keys (no Lua comparator: fast for 10k+ rows)
    local key = ("%d%05d%s\0%08d"):format(proto_rank[s.proto], s.port or 0, s.addr or s.path or "", i)
    rows[#rows + 1] = { key = key, row = row }
  end
  local keys, by_key = {}, {}
  for i, r in ipairs(rows) do
    keys[i] = r.key
    by_key[r.key] = r.row
  end
  table.sort(keys)
  local widths = {}
  for c, h in ipairs(header) do
    widths[c] = #h
  end
  for _, r in ipairs(rows) do
    for c, v in ipairs(r.row) do
      if #v > widths[c] and c < #header then
        widths[c] = math.min(#v, 48)
      end
    end
  end
  local fmt = {}
  for c = 1, #header do
    fmt[c] = c == #header and "%s" or ("%-" .. widths[c] .. "s")
  end
  local fmtline = table.concat(fmt, "  ") .. "\n"
  local out = { fmtline:format(table.unpack(header)) }
  for i, k in ipairs(keys) do
    out[i + 1] = fmtline:format(table.unpack(by_key[k]))
  end
  io.stdout:write(table.concat(out))
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
  return '"' .. v:gsub('[%c"\\]', function(c)
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

local function main(...)
  local opts, err = parse_args({ ... })
  if not opts then
    return usage(err)
  end
  local socks, info = cr.listeners({
    proto = opts.proto, port = opts.port, processes = true,
    netns = opts.all_netns and "all" or "self",
  })
  if not socks then
    io.stderr:write("connrecipe: listeners: ", info, "\n")
    return 1
  end
  if cr.cli and cr.cli.json then
    print_json(socks, info)
  else
    print_table(socks, info, opts)
  end
  return 0
end

return main(...)
