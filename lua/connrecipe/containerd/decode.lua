-- What one of containerd's containers is, from its bundle on disk or from
-- its API's entry: name (CRI's and nerdctl's annotations), image, engine,
-- state, published ports. connrecipe.containerd loads it only when there is
-- a bundle or an answer to read (most hosts have neither). What the files
-- and the API say is data, checked field by field, never run.
local cr = require "connrecipe"
local json = require "connrecipe.json"

local decode = {}

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

--- decode.from_bundle(dir, namespace, id) -> container, or nil, why: one task's bundle
function decode.from_bundle(dir, ns, id)
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

--- decode.from_api(x) -> container: one of cr.containerd's list
function decode.from_api(x)
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

return decode
