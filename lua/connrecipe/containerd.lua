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
local json = require "connrecipe.json"
local util = require "connrecipe.sysutil"

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

-- the annotations CRI (pkg/cri/annotations) and nerdctl (pkg/labels) set
local A = {
  kind = "io.kubernetes.cri.container-type", -- "sandbox" (the pod) or "container"
  container = "io.kubernetes.cri.container-name",
  pod = "io.kubernetes.cri.sandbox-name",
  pod_namespace = "io.kubernetes.cri.sandbox-namespace",
  image = "io.kubernetes.cri.image-name",
  sandbox_image = "io.kubernetes.cri.sandbox-image-name",
  nerdctl_name = "nerdctl/name",
  nerdctl_ports = "nerdctl/ports",
}

local MAX_SPEC = 4 << 20 -- a spec with many mounts and variables stays well under this

local function str(v, max)
  return type(v) == "string" and v ~= "" and #v <= (max or 253) and v or nil
end

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

-- nerdctl/ports: JSON [{"HostPort":8080,"ContainerPort":80,"Protocol":"tcp","HostIP":"0.0.0.0"}]
local function nerdctl_ports(text)
  local out = {}
  local list = str(text, 65536) and json.decode(text)
  for _, m in ipairs(type(list) == "table" and list or {}) do
    m = type(m) == "table" and m or {}
    local hp, cp = math.tointeger(m.HostPort), math.tointeger(m.ContainerPort)
    local proto = str(m.Protocol) or "tcp"
    if hp and cp and hp >= 1 and hp <= 65535 and cp >= 1 and cp <= 65535 and proto:match("^%a+$") then
      out[#out + 1] = { host_ip = str(m.HostIP) or "", host_port = hp, port = cp, proto = proto:lower() }
    end
  end
  return out
end

-- What the annotations say the container is: its name (k8s:NAMESPACE/POD/CONTAINER
-- for Kubernetes, the pod alone for its sandbox; nerdctl's name), image and engine.
local function identity(ann, ns)
  local kind, pod, pod_ns = str(ann[A.kind]), str(ann[A.pod]), str(ann[A.pod_namespace])
  if kind and pod and pod_ns then
    local k8s = { namespace = pod_ns, pod = pod, container = kind == "container" and str(ann[A.container]) or nil,
      sandbox = kind == "sandbox" }
    local name = "k8s:" .. pod_ns .. "/" .. pod .. (k8s.container and ("/" .. k8s.container) or "")
    return { name = name, engine = "kubernetes", k8s = k8s,
      image = str(ann[A.image], 4096) or (k8s.sandbox and str(ann[A.sandbox_image], 4096)) or nil }
  end
  local nerd = str(ann[A.nerdctl_name])
  if nerd then
    return { name = nerd, engine = "nerdctl", ports = nerdctl_ports(ann[A.nerdctl_ports]) }
  end
  return { engine = ns == "moby" and "docker" or "containerd" }
end

-- running: the pid in init.pid is alive and in this container's cgroup
local function task_state(dir, id)
  local text = cr.read_trusted(dir .. "/init.pid", 64)
  local pid = text and math.tointeger(tonumber(text:match("^%s*(%d+)%s*$") or ""))
  if not (pid and pid > 0 and pid <= 0x3fffffff) then
    return "unknown"
  end
  local p = cr.process.get(pid)
  if p and p.container == id then
    return "running", pid
  end
  return p and "unknown" or "exited"
end

--- containerd.from_bundle(dir, namespace, id) -> container, or nil, why: one task's bundle
function containerd.from_bundle(dir, ns, id)
  local text, err = cr.read_trusted(dir .. "/config.json", MAX_SPEC)
  if not text then
    return nil, err
  end
  local spec = json.decode(text)
  if type(spec) ~= "table" then
    return nil, dir .. "/config.json: not JSON"
  end
  local ann = type(spec.annotations) == "table" and spec.annotations or {}
  local who = identity(ann, ns)
  local state, pid = task_state(dir, id)
  return {
    id = id, name = who.name, image = who.image, engine = who.engine, namespace = ns, k8s = who.k8s,
    state = state, pid = pid, restart_count = 0, oom_killed = false,
    ports = json.array(who.ports or {}), addresses = json.array({}), source = "disk",
  }
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

-- The task's state in the words of connrecipe.containers: running, paused,
-- exited (with its code; OOM-killed when containerd 2 says so); a container
-- without a task was never started, or its task was deleted once it ended
-- (CRI does so; its exit code is then in CRI's own store, not read here).
local function api_state(task)
  if not task then
    return "stopped"
  end
  local st = task.status
  if st == "running" then
    return "running", task.pid
  elseif st == "stopped" then
    return "exited"
  elseif st == "paused" or st == "pausing" or st == "created" then
    return st
  end
  return "unknown"
end

-- kubelet's labels on a CRI container, for one whose spec has no CRI annotations
local K8S_LABELS = {
  [A.pod] = "io.kubernetes.pod.name",
  [A.pod_namespace] = "io.kubernetes.pod.namespace",
  [A.container] = "io.kubernetes.container.name",
}

-- The annotations that say who a container is: its spec's (CRI, nerdctl), then its labels'.
local function api_annotations(x)
  local spec = type(x.spec) == "string" and #x.spec <= MAX_SPEC and json.decode(x.spec)
  local ann = {}
  for k, v in pairs(type(spec) == "table" and type(spec.annotations) == "table" and spec.annotations or {}) do
    ann[k] = v
  end
  for k, v in pairs(x.labels or {}) do
    if ann[k] == nil then
      ann[k] = v
    end
  end
  for a, label in pairs(K8S_LABELS) do
    ann[a] = ann[a] or ann[label]
  end
  if not ann[A.kind] and ann[A.pod] and ann["io.cri-containerd.kind"] then
    ann[A.kind] = ann["io.cri-containerd.kind"]
  end
  return ann
end

--- containerd.from_api(x) -> container: one of cr.containerd's list
function containerd.from_api(x)
  local who = identity(api_annotations(x), x.namespace)
  local state, pid = api_state(x.task)
  local task = x.task or {}
  return {
    id = x.id, name = who.name, image = who.image or str(x.image, 4096), engine = who.engine,
    namespace = x.namespace, k8s = who.k8s, state = state, pid = pid,
    exit_code = state == "exited" and math.tointeger(task.exit_status) or nil,
    restart_count = 0, oom_killed = task.oom_killed == true,
    ports = json.array(who.ports or {}), addresses = json.array({}), source = "api",
  }
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
