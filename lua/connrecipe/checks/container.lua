-- A container's side of a port on this host (facts.containers, read from
-- the engine): the container that published the port is not running; the
-- port is published to a container port nothing listens on; the app inside
-- listens on loopback only, so the published port (docker-proxy or DNAT to
-- the container's address) never reaches it; or the app listens in its
-- container and the port is not published at all.
local address = require "connrecipe.address"
local cr = require "connrecipe"
local containers = require "connrecipe.containers"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = {
  ids = { "container-not-running", "container-port-unused", "container-loopback", "container-port-not-published" },
}

-- The CLI whose words the fixes use: docker's, or podman's and nerdctl's (the same verbs).
local function engine_cli(c)
  return (c.engine == "podman" or c.engine == "nerdctl") and c.engine or "docker"
end

-- The listeners in container c's network namespace (from the dump of every namespace).
local function listeners_of(facts, c)
  local out = {}
  for _, l in ipairs(facts.listeners and facts.listeners.list or {}) do
    local mine = l.container == c.id
    for _, p in ipairs(l.processes or {}) do
      mine = mine or p.container == c.id
    end
    if mine and l.state == "listen" then
      out[#out + 1] = l
    end
  end
  return out
end

local function ports_list(list)
  local seen, out = {}, {}
  for _, l in ipairs(list) do
    if not seen[l.port] then
      seen[l.port] = true
      out[#out + 1] = l.port
    end
  end
  table.sort(out)
  local text = {}
  for i, p in ipairs(out) do
    text[i] = tostring(p)
  end
  return table.concat(text, ", "), out
end

local function binding_text(port, b)
  return ("%s:%d -> %d/%s"):format(b.host_ip ~= "" and b.host_ip or "0.0.0.0", port, b.port, b.proto)
end

local function not_running(port, c, b)
  local name, cli = containers.label(c), engine_cli(c)
  local evidence = { ("%s publishes %s"):format(name, binding_text(port, b)),
    ("state: %s"):format(containers.describe_state(c)) }
  if c.error then
    evidence[#evidence + 1] = "error: " .. cr.text.escape(c.error)
  end
  if c.restart_policy and c.restart_policy ~= "" and c.restart_policy ~= "no" then
    evidence[#evidence + 1] = "restart policy: " .. cr.text.escape(c.restart_policy)
  end
  if c.finished_at and not c.finished_at:match("^0001") then
    evidence[#evidence + 1] = "finished at " .. cr.text.escape(c.finished_at)
  end
  local fix = ("see why it stopped (%s logs %s), then start it (%s start %s)"):format(cli, name, cli, name)
  if c.oom_killed then
    fix = ("it ran out of memory: raise its limit (%s update --memory ... %s) or lower its use; %s logs %s")
      :format(cli, name, cli, name)
  elseif c.state == "restarting" then
    fix = ("it keeps failing and being restarted: %s logs %s shows why"):format(cli, name)
  end
  return {
    id = "container-not-running", severity = "error",
    summary = ("port %d is published by container %s (%s), which is %s"):format(port, name,
      cr.text.escape(c.image or "?"), containers.describe_state(c)),
    evidence = evidence, fix = fix,
  }
end

local function loopback_only(list)
  for _, l in ipairs(list) do
    if not address.is_loopback(l.addr) then
      return false
    end
  end
  return list[1] ~= nil
end

-- The container runs: does its app listen where the port is published to?
-- Whether the dump read the container's network namespace (so that no
-- listener there means none).
local function namespace_read(facts, c)
  local info = facts.listeners and facts.listeners.info or {}
  for _, ns in ipairs(info.namespaces or {}) do
    if ns.container == c.id then
      return not ns.error
    end
  end
  return false
end

local function nothing_listens(port, c, b)
  local name, cli = containers.label(c), engine_cli(c)
  return {
    id = "container-port-unused", severity = "error",
    summary = ("port %d is published to port %d of container %s, where nothing listens on any port"):format(port,
      b.port, name),
    evidence = { ("%s publishes %s"):format(name, binding_text(port, b)), "state: " .. containers.describe_state(c),
      "no listening TCP socket in its network namespace" },
    fix = ("see whether its app started and on which port (%s logs %s); make it listen on %d"):format(cli, name,
      b.port),
  }
end

local function inside(facts, port, c, b)
  local mine = listeners_of(facts, c)
  if not mine[1] then
    -- its namespace unread: nothing to say from here
    return namespace_read(facts, c) and nothing_listens(port, c, b) or nil
  end
  local name = containers.label(c)
  local on_cport = {}
  for _, l in ipairs(mine) do
    if l.port == b.port then
      on_cport[#on_cport + 1] = l
    end
  end
  local evidence = { ("%s publishes %s"):format(name, binding_text(port, b)) }
  for _, l in ipairs(mine) do
    evidence[#evidence + 1] = describe.listener(l) .. " in container " .. name
  end
  if not on_cport[1] then
    local text, others = ports_list(mine)
    return {
      id = "container-port-unused", severity = "error",
      summary = ("port %d is published to port %d of container %s, where nothing listens; it listens on %s")
        :format(port, b.port, name, text),
      evidence = evidence,
      fix = ("publish the port the app uses (-p %d:%d, compose ports: \"%d:%d\"), or make it listen on %d")
        :format(port, others[1], port, others[1], b.port),
    }
  elseif loopback_only(on_cport) then
    return {
      id = "container-loopback", severity = "error",
      summary = ("the app in container %s listens on %s only: connections to published port %d arrive "
        .. "on the container's own address and are reset"):format(name, address.endpoint(on_cport[1].addr, b.port),
        port),
      evidence = evidence,
      fix = ("make it listen on all addresses inside the container (0.0.0.0:%d or [::]:%d), not on loopback")
        :format(b.port, b.port),
    }
  end
end

local function published_text(c)
  local out = {}
  for i, b in ipairs(c.ports or {}) do
    out[i] = binding_text(b.host_port, b)
  end
  return out[1] and table.concat(out, ", ") or "no ports"
end

-- How to make a container's port reachable from this host, in the words of
-- what runs it: Kubernetes (a pod's port: port-forward, a Service, a
-- hostPort), plain containerd (ctr has no -p), or a docker-like CLI.
local function publish_fix(c, port)
  local k = c.k8s
  if k and k.namespace and k.pod then
    local ns, pod = cr.text.escape(k.namespace), cr.text.escape(k.pod)
    return ("it runs in pod %s/%s, whose ports this host does not forward: kubectl -n %s port-forward pod/%s %d:%d "
      .. "for a test, else a Service (kubectl -n %s expose pod %s --port %d) or a hostPort in the pod's spec")
      :format(ns, pod, ns, pod, port, port, ns, pod, port)
  elseif c.engine == "containerd" then
    return ("it runs in a network namespace of its own that nothing forwards to: start it with ctr run --net-host, "
      .. "or give it a CNI network with portmap (nerdctl run -p %d:%d)"):format(port, port)
  end
  return ("publish it: %s run -p %d:%d ... (compose: ports: [\"%d:%d\"]); a container's ports are set "
    .. "when it is created, so recreate it"):format(engine_cli(c), port, port, port, port)
end

-- Nothing publishes the port, but an app listens on it inside a container.
local function not_published(s, list)
  for _, l in ipairs(s.elsewhere_on_port) do
    -- the holder's container first: in a pod, the namespace is the sandbox's
    local c
    for _, p in ipairs(l.processes or {}) do
      c = c or containers.find(list, p.container)
    end
    c = c or containers.find(list, l.container)
    if c and c.state == "running" then
      local name = containers.label(c)
      return {
        id = "container-port-not-published", severity = "error",
        summary = ("nothing here listens on port %d: container %s listens on it, but the port is not published")
          :format(s.port, name),
        evidence = { describe.listener(l) .. " in container " .. name,
          ("%s publishes %s"):format(name, published_text(c)) },
        fix = publish_fix(c, s.port),
      }
    end
  end
end

--- check.findings(facts) -> the findings, without recording them (reachable asks whether any is an error)
function check.findings(facts)
  local s = situation.of(facts)
  local read = facts.containers
  if not (s and s.here_is_local and read and read.list and read.list[1]) then
    return {}
  end
  local out = {}
  for _, pub in ipairs(containers.publishing(read.list, s.port)) do
    local c, b = pub.container, pub.binding
    local f
    if c.state ~= "running" then
      f = not_running(s.port, c, b)
    else
      f = inside(facts, s.port, c, b)
    end
    out[#out + 1] = f
  end
  if not out[1] and not s.any_open and s.r.status == "refused" and #s.accepting == 0 then
    out[#out + 1] = not_published(s, read.list)
  end
  return out
end

--- Does a container explain a failure even though the port accepts (a
--- forwarder accepted and then resets)? Then reachable is not the verdict.
function check.failing(facts)
  return check.findings(facts)[1] ~= nil
end

function check.run(ctx, facts)
  for _, f in ipairs(check.findings(facts)) do
    ctx:finding(f)
  end
end

return check
