-- podman's containers from its storage on disk, for when its API service
-- does not run (podman has no daemon: `podman system service` is started
-- only on demand). containers/storage keeps GRAPHROOT/DRIVER-containers/
-- containers.json: [{id, names, image, metadata}], metadata a JSON string
-- with "image-name". The graph roots are podman's default plus those of
-- running conmons (podman's container monitor, the parent of each
-- container's first process: its `-b` is GRAPHROOT/DRIVER-containers/ID/userdata),
-- which also say which containers run. Files are read only when root owns
-- them and every directory above (cr.read_trusted); names are data, escaped
-- wherever they are printed. CRI-O keeps its containers in the same storage
-- (names k8s_CONTAINER_POD_NAMESPACE_UID_N), shown as k8s:NAMESPACE/POD/CONTAINER.
local cr = require "connrecipe"
local json = require "connrecipe.json"
local util = require "connrecipe.sysutil"

local podman = {}

--- The graph roots tried besides those running conmons show.
podman.GRAPH_ROOTS = { "/var/lib/containers/storage" }

local MAX_LIST = 16 << 20

local function str(v, max)
  return type(v) == "string" and v ~= "" and #v <= (max or 253) and v or nil
end

local function valid_id(id)
  return type(id) == "string" and #id == 64 and id:match("^%x+$") ~= nil
end

--- podman.monitors(procs) -> {[graph root] = true}, {[container id] = true}:
--- what root's running conmons among procs (processes, as monitors.find
--- gives them) say: their storage and their containers.
function podman.monitors(procs)
  local roots, running = {}, {}
  for _, p in ipairs(procs or {}) do
    if p.uid == 0 and p.comm == "conmon" and type(p.cmdline) == "table" then
      for i, a in ipairs(p.cmdline) do
        local b = p.cmdline[i + 1]
        if a == "-b" and type(b) == "string" then
          local root, id = b:match("^(/.+)/[%w]+%-containers/(%x+)/userdata$")
          if root and valid_id(id) then
            roots[root] = true
            running[id:lower()] = true
          end
        end
      end
    end
  end
  return roots, running
end

--- podman.k8s_name("k8s_web_shop-0_prod_UID_0") -> "k8s:prod/shop-0/web",
--- {namespace, pod, container} (CRI-O's names; POD is the sandbox), else nil
function podman.k8s_name(name)
  local ctr, pod, ns = name:match("^k8s_([%w.-]+)_([%w.-]+)_([%w.-]+)_[%w-]+_%d+$")
  if not ctr then
    return nil
  end
  local k8s = { namespace = ns, pod = pod, container = ctr ~= "POD" and ctr or nil, sandbox = ctr == "POD" }
  return "k8s:" .. ns .. "/" .. pod .. (k8s.container and ("/" .. ctr) or ""), k8s
end

-- One entry of containers.json, checked field by field.
local function from_entry(e, running)
  if type(e) ~= "table" or not valid_id(e.id) then
    return nil
  end
  local name = type(e.names) == "table" and str(e.names[1]) or nil
  local meta = str(e.metadata, 65536) and json.decode(e.metadata)
  meta = type(meta) == "table" and meta or {}
  local k8s_name, k8s
  if name then
    k8s_name, k8s = podman.k8s_name(name)
  end
  local id = e.id:lower()
  return {
    id = id, name = k8s_name or name, k8s = k8s, image = str(meta["image-name"], 4096) or str(e.image),
    engine = k8s and "kubernetes" or "podman", state = running[id] and "running" or "unknown",
    restart_count = 0, oom_killed = false, ports = json.array({}), addresses = json.array({}), source = "disk",
  }
end

-- containers.json of each DRIVER-containers directory under root, added to out.
local function read_root(root, out, running, max)
  local entries, err, code = cr.list_trusted_dir(root)
  if not entries then
    return nil, err, code
  end
  for _, dir in ipairs(entries) do
    if dir:match("^%w+%-containers$") then
      local path = ("%s/%s/containers.json"):format(root, dir)
      local text, why, rcode = cr.read_trusted(path, MAX_LIST)
      local list = text and json.decode(text)
      if text and type(list) ~= "table" then
        why = path .. ": not JSON"
      end
      if type(list) == "table" then
        for _, e in ipairs(list) do
          local c = #out.list < max and from_entry(e, running)
          if c and not out.by_id[c.id] then
            out.by_id[c.id] = c
            out.list[#out.list + 1] = c
          end
        end
      elseif why and rcode ~= "ENOENT" then
        out.errors[#out.errors + 1] = why
      end
    end
  end
  return true
end

--- podman.read(out [, opts]): adds the containers of every graph root to out
--- ({list, by_id, sources, errors}): the usual ones and those of the conmons
--- among opts.procs; opts.roots replaces both (tests); opts.max bounds the count.
function podman.read(out, opts)
  opts = opts or {}
  local found, running = podman.monitors(opts.procs)
  local roots = opts.roots
  if not roots then
    local extra = {}
    for r in pairs(found) do
      extra[#extra + 1] = r
    end
    table.sort(extra)
    roots = { table.unpack(podman.GRAPH_ROOTS) }
    table.move(extra, 1, #extra, #roots + 1, roots)
  end
  util.read_roots(roots, "podman storage", out, function(root)
    return read_root(root, out, running, opts.max or 200)
  end)
end

return podman
