-- containerd's containers (Kubernetes' through CRI, nerdctl's, ctr's): first
-- through its gRPC API (cr.containerd: every container with its task's
-- state, stopped ones with their exit status), then, for those no API
-- named, from its state on disk: each running task has
-- a bundle, STATE/io.containerd.runtime.v2.task/NAMESPACE/ID/, holding the
-- OCI spec it was started with (config.json: CRI and nerdctl write the
-- container's name, pod and image into its annotations) and init.pid. The
-- state directories are the usual ones plus those where running shims are:
-- a containerd-shim runs in its bundle directory, so k3s', microk8s' or a
-- private containerd's state is found too. Files are read only when root
-- owns them and every directory above (cr.read_trusted), bounded in size;
-- what they say is data, checked field by field, never run.
local cr = require "connrecipe"
local util = require "connrecipe.sysutil"
-- what a bundle or an API's entry says: loaded only when there is one
local decode = require("connrecipe.lazy").require "connrecipe.containerd.decode"

local containerd = {}

--- The state directories tried (containerd's default, k3s/RKE2, microk8s,
--- docker's own containerd), besides those that running shims show.
containerd.STATE_ROOTS = {
  "/run/containerd",
  "/run/k3s/containerd",
  "/var/snap/microk8s/common/run/containerd",
  "/run/docker/containerd/daemon",
}

--- The API sockets tried (containerd's, k3s', microk8s', docker's own),
--- besides those the running shims were started with (-address).
containerd.SOCKETS = {
  "/run/containerd/containerd.sock",
  "/run/k3s/containerd/containerd.sock",
  "/var/snap/microk8s/common/run/containerd.sock",
  "/run/docker/containerd/containerd.sock",
}

local TASKS = "/io.containerd.runtime.v2.task"

--- containerd.shim_roots(procs) -> {state dir, ...}: where the running
--- shims among procs (processes, as monitors.find gives them) have their bundles (a shim's working
--- directory is its bundle; one shim serves a whole pod: the sandbox's).
function containerd.shim_roots(procs)
  local roots, seen = {}, {}
  for _, p in ipairs(procs or {}) do
    if p.uid == 0 and type(p.comm) == "string" and p.comm:match("^containerd%-shim") then
      local cwd = cr.process.cwd(p.pid)
      local root = cwd and cwd:match("^(/.+)" .. TASKS:gsub("%.", "%%.") .. "/[^/]+/[^/]+$")
      if root and not seen[root] then
        seen[root] = true
        roots[#roots + 1] = root
      end
    end
  end
  return roots
end

--- containerd.from_bundle(dir, namespace, id) -> container, or nil, why: one task's bundle
function containerd.from_bundle(dir, ns, id)
  return decode.from_bundle(dir, ns, id)
end

--- containerd.from_api(x) -> container: one of cr.containerd's list
function containerd.from_api(x)
  return decode.from_api(x)
end

local function valid_id(id)
  return #id == 64 and id:match("^%x+$") ~= nil
end

-- The tasks of one state directory, added to out (its list and by_id).
local function read_root(root, out, max)
  local base = root .. TASKS
  local namespaces, err, code = cr.list_trusted_dir(base)
  if not namespaces then
    return nil, err, code
  end
  for _, ns in ipairs(namespaces) do
    local ids = ns:match("^[%w._-]+$") and cr.list_trusted_dir(base .. "/" .. ns) or {}
    for _, id in ipairs(ids) do
      -- a 64-hex id is what a cgroup path names; others (ctr run NAME) could never be matched
      if valid_id(id) and not out.by_id[id:lower()] and #out.list < max then
        local c, why = containerd.from_bundle(("%s/%s/%s"):format(base, ns, id), ns, id:lower())
        if c then
          out.by_id[c.id] = c
          out.list[#out.list + 1] = c
        elseif why then
          out.errors[#out.errors + 1] = why
        end
      end
    end
  end
  return true
end

-- ---- through the API ---------------------------------------------------------------

--- containerd.shim_sockets(procs) -> {socket, ...}: the API sockets the
--- running shims among procs were started with (-address PATH).
function containerd.shim_sockets(procs)
  local out, seen = {}, {}
  for _, p in ipairs(procs or {}) do
    local argv = p.uid == 0 and type(p.comm) == "string" and p.comm:match("^containerd%-shim") and p.cmdline or {}
    for i = 1, #argv - 1 do
      local path = argv[i] == "-address" and argv[i + 1]
      if path and path:match("^/[%w/._-]+$") and #path < 108 and not seen[path] then
        seen[path] = true
        out[#out + 1] = path
      end
    end
  end
  return out
end

-- A socket found, not given: only in a directory nobody but root could have
-- made it in (its answers name containers), as the state directories.
local function socket_trusted(path)
  local dir = path:match("^(.+)/[^/]+$")
  if not dir then
    return nil, path .. ": not an absolute path"
  end
  local names, err, code = cr.list_trusted_dir(dir)
  if not names then
    return nil, err, code
  end
  return true
end

-- The containers of one API socket, added to out; how it went.
local function read_socket(path, out, max)
  local list, err, code = cr.containerd({ socket = path, timeout = 5, max = max })
  if not list then
    return nil, err, code
  end
  for _, x in ipairs(list) do
    if not out.by_id[x.id] and #out.list < max then
      local c = containerd.from_api(x)
      out.by_id[c.id] = c
      out.list[#out.list + 1] = c
    end
  end
  return true
end

local function read_sockets(out, opts)
  local given = opts.sockets ~= nil
  local paths = opts.sockets or {}
  if not given then
    local seen = {}
    for _, list in ipairs({ containerd.SOCKETS, containerd.shim_sockets(opts.procs) }) do
      for _, p in ipairs(list) do
        if not seen[p] then
          seen[p] = true
          paths[#paths + 1] = p
        end
      end
    end
  end
  for _, path in ipairs(paths) do
    local ok, err, code = true, nil, nil
    if not given then
      ok, err, code = socket_trusted(path)
      err = not ok and ("containerd API %s: not read: %s"):format(cr.text.escape(path), tostring(err)) or nil
    end
    if ok then
      ok, err, code = read_socket(path, out, opts.max or 200)
    end
    if ok then
      out.sources[#out.sources + 1] = "containerd API " .. path
    elseif code ~= "ENOENT" and code ~= "ENOTDIR" and code ~= "ECONNREFUSED" then
      out.errors[#out.errors + 1] = tostring(err)
    end
  end
end

--- containerd.read(out [, opts]): adds to out ({list, by_id, sources,
--- errors}) the containers of every API socket that answers (the usual ones
--- and those the shims among opts.procs name; opts.sockets replaces both),
--- then the running tasks of every state directory (the usual ones and those
--- of the shims; opts.roots replaces both) that no API named; opts.max
--- bounds the count.
function containerd.read(out, opts)
  opts = opts or {}
  read_sockets(out, opts)
  local roots = opts.roots
  if not roots then
    local shims = containerd.shim_roots(opts.procs)
    roots = { table.unpack(containerd.STATE_ROOTS) }
    table.move(shims, 1, #shims, #roots + 1, roots)
  end
  util.read_roots(roots, "containerd state", out, function(root)
    return read_root(root, out, opts.max or 200)
  end)
end

return containerd
