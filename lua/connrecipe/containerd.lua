-- containerd's running containers (Kubernetes' through CRI, nerdctl's,
-- ctr's) from its state on disk, without its gRPC API: each running task has
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

local containerd = {}

--- The state directories tried (containerd's default, k3s/RKE2, microk8s,
--- docker's own containerd), besides those that running shims show.
containerd.STATE_ROOTS = {
  "/run/containerd",
  "/run/k3s/containerd",
  "/var/snap/microk8s/common/run/containerd",
  "/run/docker/containerd/daemon",
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

--- containerd.read(out [, opts]): adds the running tasks of every state
--- directory to out ({list, by_id, sources, errors}): the usual ones and
--- those of the shims among opts.procs; opts.roots replaces both (tests);
--- opts.max bounds the count.
function containerd.read(out, opts)
  opts = opts or {}
  local roots, seen = {}, {}
  local function add(r)
    if not seen[r] then
      seen[r] = true
      roots[#roots + 1] = r
    end
  end
  if opts.roots then
    for _, r in ipairs(opts.roots) do add(r) end
  else
    for _, r in ipairs(containerd.STATE_ROOTS) do add(r) end
    for _, r in ipairs(containerd.shim_roots(opts.procs)) do add(r) end
  end
  for _, root in ipairs(roots) do
    local ok, err, code = read_root(root, out, opts.max or 200)
    if ok then
      out.sources[#out.sources + 1] = "containerd state " .. root
    elseif code ~= "ENOENT" and code ~= "ENOTDIR" then
      out.errors[#out.errors + 1] = tostring(err)
    end
  end
end

return containerd
