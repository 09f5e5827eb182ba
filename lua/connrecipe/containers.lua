-- The containers of this host by id: name, image, state (running, exited
-- with its code, OOM-killed, restarting and how often), published ports and
-- addresses. Read from the container engine's API (docker's or podman's,
-- Engine-compatible, HTTP/1.1 over its Unix socket, cr.unix_request), else
-- from docker's state on disk (config.v2.json, hostconfig.json under a
-- root-owned data root) and podman's (connrecipe.podman_disk); containerd's
-- running tasks (Kubernetes', nerdctl's) from its state on disk
-- (connrecipe.containerd). Everything read is data: each field is
-- type-checked (connrecipe.containers.decode), nothing is run, and names are
-- escaped wherever they are printed.
local cr = require "connrecipe"
local containerd = require "connrecipe.containerd"
local json = require "connrecipe.json"
local lazy = require "connrecipe.lazy"
local decode = lazy.require "connrecipe.containers.decode" -- only for an engine's answer or docker's state
local monitors = lazy.require "connrecipe.monitors" -- only when their scan is wanted
local podman_disk = require "connrecipe.podman_disk"

local containers = {}

--- The engine sockets tried, in order ($DOCKER_HOST first when it names a
--- Unix socket; $XDG_RUNTIME_DIR/podman/podman.sock last).
containers.SOCKETS = {
  { path = "/run/docker.sock", engine = "docker" },
  { path = "/var/run/docker.sock", engine = "docker" },
  { path = "/run/podman/podman.sock", engine = "podman" },
}

--- Docker's data root (its containers/ holds one directory per container).
containers.DATA_ROOT = "/var/lib/docker"

--- At most this many containers are inspected (one API request each).
containers.MAX = 200

local API = "/v1.40" -- docker 19.03 and later, podman's compat API

-- ---- HTTP/1.1 over the socket -------------------------------------------------------

--- containers.parse_http(reply) -> status, body, headers, or nil, why: an
--- HTTP/1.1 response read to the end (Content-Length or chunked); headers
--- is the header block, lowercased, each line after a "\n".
function containers.parse_http(reply)
  return decode.parse_http(reply)
end

--- containers.get(socket, path [, timeout]) -> decoded JSON, nil, nil,
--- headers (as parse_http), or nil, why, code
function containers.get(socket, path, timeout)
  local request = ("GET %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: connrecipe\r\nAccept: application/json\r\n"
    .. "Connection: close\r\n\r\n"):format(path)
  local reply, err, code = cr.unix_request(socket, request, { timeout = timeout or 2 })
  if not reply then
    return nil, err, code
  end
  local status, body, headers = containers.parse_http(reply)
  if not status then
    return nil, ("%s: %s"):format(socket, body), "EPROTO"
  end
  if status ~= 200 then
    return nil, ("%s: GET %s: HTTP status %d"):format(socket, path, status), "EPROTO"
  end
  local doc, jerr = json.decode(body)
  if doc == nil then
    return nil, ("%s: GET %s: not JSON (%s)"):format(socket, path, tostring(jerr)), "EPROTO"
  end
  return doc, nil, nil, headers
end

-- ---- one container, from what the engine says -----------------------------------------

--- containers.from_inspect(doc [, engine]) -> container, or nil: what
--- GET /containers/ID/json (or config.v2.json with hostconfig.json's
--- PortBindings as doc.HostConfig) says, checked field by field.
function containers.from_inspect(doc, engine)
  return decode.from_inspect(doc, engine)
end

-- ---- reading them all ------------------------------------------------------------------

local function sockets()
  local list = {}
  local host = os.getenv("DOCKER_HOST")
  local path = host and host:match("^unix://(/.+)$")
  if path then
    list[1] = { path = path, engine = "docker" }
  end
  for _, s in ipairs(containers.SOCKETS) do
    list[#list + 1] = s
  end
  local runtime_dir = os.getenv("XDG_RUNTIME_DIR") -- rootless podman: the user's own engine
  if runtime_dir and runtime_dir:match("^/") then
    list[#list + 1] = { path = runtime_dir .. "/podman/podman.sock", engine = "podman" }
  end
  return list
end

-- The ids of every container the engine at `socket` knows, newest first,
-- and which engine it is: podman's compat API says Libpod-Api-Version in
-- every reply (a podman socket may be named in $DOCKER_HOST).
local function engine_ids(socket, engine)
  local doc, err, code, headers = containers.get(socket, API .. "/containers/json?all=1")
  if type(doc) ~= "table" then
    return nil, err or (socket .. ": not a list of containers"), code
  end
  if headers and headers:find("\nlibpod%-api%-version:") then
    engine = "podman"
  end
  local ids = {}
  for _, c in ipairs(doc) do
    local id = type(c) == "table" and c.Id
    if type(id) == "string" and #id == 64 and id:match("^%x+$") and #ids < containers.MAX then
      ids[#ids + 1] = id
    end
  end
  return ids, engine
end

-- Inspects, this many at a time (the engine answers them concurrently).
local BATCH = 8

local function inspect_batch(socket, ids, first)
  local fns = {}
  for i = first, math.min(first + BATCH - 1, #ids) do
    fns[#fns + 1] = function()
      return table.pack(containers.get(socket, API .. "/containers/" .. ids[i] .. "/json"))
    end
  end
  return { cr.all(fns) }
end

-- true and the engine that answered (docker or podman), or nil, why, code
local function from_engine(socket, engine, out)
  local ids, found, code = engine_ids(socket, engine)
  if not ids then
    return nil, found, code
  end
  engine = found
  for first = 1, #ids, BATCH do
    for _, r in ipairs(inspect_batch(socket, ids, first)) do
      local doc, why, status = r[1], r[2], r[3]
      if not doc and status ~= "EPROTO" then -- the engine stopped answering: say so, wait no longer
        out.errors[#out.errors + 1] = tostring(why)
        return true, engine
      end
      local c = containers.from_inspect(doc, engine) -- nil for one removed since the list (404)
      if c and not out.by_id[c.id] then
        out.by_id[c.id] = c
        out.list[#out.list + 1] = c
      end
    end
  end
  return true, engine
end

local function read_json(path)
  local text, err, code = cr.read_trusted(path, 1 << 20)
  if not text then
    return nil, err, code
  end
  local doc, jerr = json.decode(text)
  if type(doc) ~= "table" then
    return nil, path .. ": not JSON (" .. tostring(jerr) .. ")"
  end
  return doc
end

--- containers.from_disk(data_root, out) -> true, or nil, why: docker's
--- containers as its state files say (the daemon may be down).
function containers.from_disk(data_root, out)
  local dir = data_root .. "/containers"
  local names, err, code = cr.list_trusted_dir(dir)
  if not names then
    return nil, err, code
  end
  for _, id in ipairs(names) do
    if #id == 64 and id:match("^%x+$") and #out.list < containers.MAX then
      local doc = read_json(("%s/%s/config.v2.json"):format(dir, id))
      local host = read_json(("%s/%s/hostconfig.json"):format(dir, id))
      if doc then
        doc.HostConfig = host or {}
        local c = containers.from_inspect(doc, "docker")
        if c and not out.by_id[c.id] then
          c.source = "disk"
          out.by_id[c.id] = c
          out.list[#out.list + 1] = c
        end
      end
    end
  end
  return true
end

--- containers.read([opts]) -> {list, sources, errors}: every engine that
--- answers, docker's state on disk when no docker API did, then podman's
--- storage and containerd's running tasks (for those no API named).
--- opts.sockets, opts.data_root, opts.podman_roots, opts.containerd_roots and
--- opts.containerd_sockets replace the defaults and what running conmons and
--- shims show (tests).
--- sources names what was read ("docker API /run/docker.sock", "docker
--- state /var/lib/docker", "podman storage ...", "containerd state ...");
--- errors, what was there but could not be read (a missing socket is not an error).
--- opts.monitors = false skips the scan for monitors: only the usual podman
--- and containerd state is read, and podman's containers there stay "unknown".
function containers.read(opts)
  opts = opts or {}
  local out = { list = {}, by_id = {}, sources = json.array(), errors = json.array() }
  local docker_api = false
  local seen = {}
  for _, s in ipairs(opts.sockets or sockets()) do
    if not seen[s.path] then
      seen[s.path] = true
      local ok, err, code = from_engine(s.path, s.engine, out)
      if ok then
        out.sources[#out.sources + 1] = ("%s API %s"):format(err, s.path)
        docker_api = docker_api or err == "docker"
      elseif code ~= "ENOENT" and code ~= "ENOTDIR" then
        out.errors[#out.errors + 1] = tostring(err)
      end
    end
  end
  if not docker_api then
    local root = opts.data_root or containers.DATA_ROOT
    local ok, err, code = containers.from_disk(root, out)
    if ok then
      out.sources[#out.sources + 1] = "docker state " .. root
    elseif code ~= "ENOENT" and code ~= "ENOTDIR" then
      out.errors[#out.errors + 1] = tostring(err)
    end
  end
  -- the runtimes' monitors (conmon, containerd-shim) show where their state is
  local found = opts.monitors == false and {} or monitors.find()
  podman_disk.read(out, { roots = opts.podman_roots, procs = found.conmons, max = containers.MAX })
  containerd.read(out, { roots = opts.containerd_roots, sockets = opts.containerd_sockets, procs = found.shims,
    max = containers.MAX })
  out.by_id = nil -- the list is the fact; containers.index rebuilds the map
  json.array(out.list)
  return out
end

-- ---- using them ------------------------------------------------------------------------

--- containers.index(list) -> {[full id] = container}
function containers.index(list)
  local by_id = {}
  for _, c in ipairs(list or {}) do
    by_id[c.id] = c
  end
  return by_id
end

--- containers.find(list, id) -> the container with this full id (or a 12+ digit prefix of it)
function containers.find(list, id)
  if type(id) ~= "string" or #id < 12 then
    return nil
  end
  for _, c in ipairs(list or {}) do
    if c.id == id or c.id:sub(1, #id) == id then
      return c
    end
  end
end

--- containers.label(c) -> "web1" (its name), else the id as docker ps shows it; escaped
function containers.label(c)
  return cr.text.escape(c.name or c.id:sub(1, 12))
end

--- containers.describe_state(c) -> "running", "exited with code 137, OOM-killed", "restarting (restarted 5 times)"
function containers.describe_state(c)
  local parts = { c.state }
  if c.state == "exited" or c.state == "dead" or c.state == "restarting" then
    if c.exit_code then
      parts[1] = ("%s (exit code %d)"):format(c.state, c.exit_code)
    end
  end
  if c.oom_killed then
    parts[#parts + 1] = "OOM-killed"
  end
  if (c.restart_count or 0) > 0 then
    parts[#parts + 1] = ("restarted %d time%s"):format(c.restart_count, c.restart_count == 1 and "" or "s")
  end
  return table.concat(parts, ", ")
end

--- containers.publishing(list, port [, proto]) -> the containers publishing host port `port`, with the binding
function containers.publishing(list, port, proto)
  local out = {}
  for _, c in ipairs(list or {}) do
    for _, b in ipairs(c.ports or {}) do
      if b.host_port == port and b.proto == (proto or "tcp") then
        out[#out + 1] = { container = c, binding = b }
        break
      end
    end
  end
  return out
end

--- containers.name_sockets(socks, list): sets container_name on every
--- socket and holder whose container is known (for the listeners table).
function containers.name_sockets(socks, list)
  if not (list and list[1]) then
    return
  end
  local by_id = containers.index(list)
  local function name_of(id)
    local c = id and (by_id[id] or containers.find(list, id))
    return c and c.name
  end
  for _, s in ipairs(socks or {}) do
    s.container_name = name_of(s.container)
    for _, p in ipairs(s.processes or {}) do
      p.container_name = name_of(p.container)
    end
  end
end

return containers
