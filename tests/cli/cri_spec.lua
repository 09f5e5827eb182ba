-- containerd's containers by name, against a real containerd: one started
-- for this file in a private network namespace, with its own socket, root
-- and state directories (the state in a root-owned directory, so that
-- connrecipe may read it; found through the shim's working directory, as a
-- k3s or microk8s state would be), stopped at the end. Containers are made
-- with ctr the way Kubernetes' CRI makes them: a pod sandbox and an app
-- container sharing its network namespace and shim, with CRI's annotations;
-- and one the way nerdctl does (its nerdctl/name and nerdctl/ports); one
-- more nerdctl-shaped whose task exits with code 7, and one never started:
-- those only containerd's API (cr.containerd) knows. The image is
-- busybox-static imported as an OCI archive (no registry). The API socket is
-- in a root-owned directory too, found through the shims' -address.
local testenv = require "testenv"
local images = require "images"
local dkjson = require "dkjson"
local q = testenv.quote

local IMAGE = "docker.io/library/crtest-busybox:1"

local gate = testenv.setup_gate(function(why)
  pending(why)
end)
local env = {} -- ns, dir, state, root, sock, base, pod, app, nerd, gone, idle, pids, cgroups_made

local function ctr(ns, args)
  return testenv.sh(("CONTAINERD_SNAPSHOTTER=native ctr --address %s -n %s %s"):format(env.sock, ns, args))
end

local function ctr_ok(ns, args)
  local r = ctr(ns, args)
  assert(r.code == 0, "ctr " .. args .. ": " .. r.stderr)
  return r.stdout
end

local function reason_to_skip()
  if not testenv.is_root() then
    return "needs root (a network namespace and containerd)"
  end
  for _, prog in ipairs({ "containerd", "ctr", "containerd-shim-runc-v2", "runc", "nsenter", "ss" }) do
    if not testenv.have(prog) then
      return prog .. " not installed (apt-get install containerd)"
    end
  end
  if not io.open(images.BUSYBOX) then
    return images.BUSYBOX .. " not installed (apt-get install busybox-static)"
  end
end

local function random_id()
  return testenv.sh_ok("head -c 32 /dev/urandom | sha256sum").stdout:match("^(%x+)")
end

-- The cgroup parents ctr's containers go under (/k8s.io, /default), runc's
-- state directories and ctr's fifo directory, to be removed at the end (when
-- empty, innermost first) if this file made them.
local function cgroup_parents()
  return testenv.sh("ls -d /sys/fs/cgroup/*/k8s.io /sys/fs/cgroup/*/default /sys/fs/cgroup/k8s.io "
    .. "/sys/fs/cgroup/default /run/containerd/runc/k8s.io /run/containerd/runc/default /run/containerd/runc "
    .. "/run/containerd/fifo 2>/dev/null").stdout
end

local function start_containerd()
  env.ns = testenv.netns()
  env.dir = testenv.tmpdir() -- short paths: Unix socket names are limited to 107 bytes
  env.state = testenv.trusted_tmpdir()
  env.root = testenv.trusted_tmpdir()
  env.sock = testenv.trusted_tmpdir() .. "/c.sock"
  env.cgroups_before = cgroup_parents()
  -- nothing outside its directories: no CRI server, no /opt plugin directory
  testenv.write_file(env.dir .. "/config.toml", 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri", '
    .. '"io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", '
    .. '"io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]\n')
  testenv.background(("exec nsenter --net=/run/netns/%s containerd --config %s/config.toml --address %s "
    .. "--state %s --root %s >%s/containerd.log 2>&1"):format(env.ns, q(env.dir), env.sock, q(env.state),
    q(env.root), q(env.dir)))
  if not testenv.wait_for(function()
    return ctr("default", "version").code == 0
  end, 30) then
    local log = testenv.sh("tail -n 3 " .. q(env.dir .. "/containerd.log")).stdout
    return "containerd did not start here: " .. (log:match("([^\n]+)\n?$") or "no log")
  end
end

local function task_pid(ns, id)
  for line in ctr_ok(ns, "task ls"):gmatch("[^\n]+") do
    local tid, pid = line:match("^(%x+)%s+(%d+)%s+RUNNING")
    if tid == id then
      return pid
    end
  end
end

-- A pod as CRI makes it: its sandbox (kubelet's pause; here a sleep) in a
-- network namespace of its own, and the app joining it, both annotated.
local function run_pod()
  local port = env.base + 1
  env.pod, env.app = random_id(), random_id()
  local pod_ann = ("--annotation io.kubernetes.cri.sandbox-id=%s --annotation io.kubernetes.cri.sandbox-name=web-0 "
    .. "--annotation io.kubernetes.cri.sandbox-namespace=shop"):format(env.pod)
  ctr_ok("k8s.io", ("run -d --annotation io.kubernetes.cri.container-type=sandbox %s %s %s sleep 600"):format(
    pod_ann, IMAGE, env.pod))
  local pause = assert(task_pid("k8s.io", env.pod), "the sandbox does not run")
  ctr_ok("k8s.io", ("run -d --with-ns network:/proc/%s/ns/net --annotation io.kubernetes.cri.container-type=container "
    .. "--annotation io.kubernetes.cri.container-name=app --annotation io.kubernetes.cri.image-name=%s %s %s %s "
    .. "httpd -f -p %d -h /www"):format(pause, IMAGE, pod_ann, IMAGE, env.app, port))
  env.app_pid = assert(task_pid("k8s.io", env.app), "the app does not run")
  assert(testenv.wait_for(function()
    return testenv.sh(("nsenter -t %s -n ss -Htln 'sport = :%d'"):format(env.app_pid, port)).stdout:find("LISTEN")
      ~= nil
  end, 20), "the app does not listen on " .. port)
end

-- A container as nerdctl makes it: its name and published ports as annotations.
local function run_nerdctl()
  env.nerd = random_id()
  ctr_ok("default", ("run -d --annotation nerdctl/name=crt-nerd --annotation %s %s %s sleep 600"):format(
    q('nerdctl/ports=[{"HostPort":' .. (env.base + 2) .. ',"ContainerPort":80,"Protocol":"tcp","HostIP":"0.0.0.0"}]'),
    IMAGE, env.nerd))
end

-- Two containers with no running task: one nerdctl-shaped whose task ran
-- and exited with code 7 (ctr run -d keeps the stopped task), one created
-- and never started.
local function run_gone()
  env.gone, env.idle = random_id(), random_id()
  ctr_ok("default", ("run -d --annotation nerdctl/name=crt-gone --annotation %s %s %s sh -c 'exit 7'"):format(
    q('nerdctl/ports=[{"HostPort":' .. (env.base + 3) .. ',"ContainerPort":80,"Protocol":"tcp","HostIP":"0.0.0.0"}]'),
    IMAGE, env.gone))
  assert(testenv.wait_for(function()
    return ctr_ok("default", "task ls"):find(env.gone .. "%s+%d+%s+STOPPED") ~= nil
  end, 20), "the task did not stop")
  ctr_ok("default", ("container create --annotation nerdctl/name=crt-idle %s %s true"):format(IMAGE, env.idle))
end

local function setup_containerd()
  local why = reason_to_skip()
  if not why then
    env.base = testenv.port_block()
    why = start_containerd()
  end
  if why then
    gate.why = why
    return
  end
  local archive = images.oci_archive(images.rootfs(), IMAGE)
  ctr_ok("k8s.io", "images import " .. q(archive))
  ctr_ok("default", "images import " .. q(archive))
  run_pod()
  run_nerdctl()
  run_gone()
end

-- Stops what this file started: the tasks and containers, containerd, and
-- the cgroup parents and runc directories it made; its own directories go
-- with testenv.cleanup.
local function stop_containerd()
  if env.sock and ctr("default", "version").code == 0 then
    local all = { { "k8s.io", env.app }, { "k8s.io", env.pod }, { "default", env.nerd }, { "default", env.gone },
      { "default", env.idle } }
    for _, c in ipairs(all) do
      if c[2] then
        ctr(c[1], "task kill -s KILL " .. c[2])
      end
    end
    for _, c in ipairs(all) do
      if c[2] then
        testenv.wait_for(function()
          return ctr(c[1], "task rm " .. c[2]).code == 0 or ctr(c[1], "task ls").stdout:find(c[2], 1, true) == nil
        end, 10)
        ctr(c[1], "container rm " .. c[2])
      end
    end
    local pid = testenv.sh("pgrep -f " .. q("containerd --config " .. env.dir)).stdout:match("%d+")
    if pid then
      os.execute("kill -TERM " .. pid)
      testenv.wait_for(function()
        return not os.execute("kill -0 " .. pid .. " 2>/dev/null")
      end, 20)
    end
  end
  if env.cgroups_before then
    local dirs = {}
    for dir in cgroup_parents():gmatch("[^\n]+") do
      if not env.cgroups_before:find(dir .. "\n", 1, true) then
        table.insert(dirs, 1, dir) -- ls sorts a parent first: remove in reverse
      end
    end
    for _, dir in ipairs(dirs) do
      os.execute("rmdir " .. q(dir) .. " 2>/dev/null")
    end
  end
  testenv.cleanup()
end

local function connrecipe(args)
  local parts = {}
  for _, a in ipairs(args) do
    parts[#parts + 1] = q(a)
  end
  return testenv.sh(testenv.in_netns(env.ns, q(testenv.bin) .. " " .. table.concat(parts, " ")))
end

local function read_containers(opts_text)
  local code = ([[
    local containers = require "connrecipe.containers"
    local read = containers.read(%s)
    for _, c in ipairs(read.list) do
      local p = c.ports[1]
      print(c.id, containers.label(c), c.engine, c.image or "-", c.state, c.namespace or "-",
        p and (p.host_port .. ":" .. p.port) or "-", c.source, c.exit_code or "-")
    end
    print("sources", table.concat(read.sources, ","))
    print("errors", table.concat(read.errors, ","))
  ]]):format(opts_text)
  local r = testenv.sh(q(testenv.bin) .. " -e " .. q(code))
  assert(r.code == 0, r.stderr)
  return r.stdout
end

describe("containerd's containers (real containerd, CRI- and nerdctl-shaped)", function()
  setup(setup_containerd)
  teardown(stop_containerd)

  it("reads the running tasks' bundles: pod, container, image, state; nerdctl's name and ports", function()
    gate.check()
    local out = read_containers(("{ sockets = {}, data_root = '/nonexistent', podman_roots = {}, "
      .. "containerd_roots = { %q }, containerd_sockets = {} }"):format(env.state))
    assert.matches(env.app .. "\tk8s:shop/web%-0/app\tkubernetes\t" .. IMAGE:gsub("%p", "%%%0") .. "\trunning\tk8s.io",
      out)
    assert.matches(env.pod .. "\tk8s:shop/web%-0\tkubernetes\t", out)
    assert.matches(env.nerd .. "\tcrt%-nerd\tnerdctl\t%-\trunning\tdefault\t" .. (env.base + 2) .. ":80", out)
    assert.matches("sources\tcontainerd state " .. env.state, out, 1, true)
    assert.matches("errors\t\n", out, 1, true)
  end)

  it("finds the API socket and the state directory through the running shims", function()
    gate.check()
    local out = read_containers("{ sockets = {} }")
    assert.matches("containerd API " .. env.sock, out, 1, true)
    assert.matches("containerd state " .. env.state, out, 1, true)
    assert.matches(env.app .. "\tk8s:shop/web%-0/app", out)
  end)

  it("lists through the API: the exited container with its exit code, the never-started one", function()
    gate.check()
    local out = read_containers(("{ sockets = {}, data_root = '/nonexistent', podman_roots = {}, "
      .. "containerd_roots = {}, containerd_sockets = { %q } }"):format(env.sock))
    assert.matches(env.gone .. "\tcrt%-gone\tnerdctl\t" .. IMAGE:gsub("%p", "%%%0") .. "\texited\tdefault\t"
      .. (env.base + 3) .. ":80\tapi\t7\n", out)
    assert.matches(env.idle .. "\tcrt%-idle\tnerdctl\t[^\t]+\tstopped\tdefault\t%-\tapi\t%-\n", out)
    assert.matches(env.app .. "\tk8s:shop/web%-0/app\tkubernetes\t[^\t]+\trunning\tk8s.io\t%-\tapi\t", out)
    assert.matches(env.nerd .. "\tcrt%-nerd\tnerdctl\t[^\t]+\trunning\tdefault\t" .. (env.base + 2) .. ":80\tapi",
      out)
    assert.matches("sources\tcontainerd API " .. env.sock .. "\n", out, 1, true)
    assert.matches("errors\t\n", out, 1, true)
  end)

  it("cr.containerd: one namespace, the task's status and exit status; a bad one, containerd's error", function()
    gate.check()
    local code = ([[
      local cr = require "connrecipe"
      for _, x in ipairs(assert(cr.containerd({ socket = %q, namespace = "default" }))) do
        print(x.namespace, x.id, x.image, x.labels["nerdctl/name"] or "-", x.task and x.task.status or "-",
          x.task and x.task.exit_status or "-", x.task and x.task.pid or "-", type(x.spec))
      end
      print(cr.containerd({ socket = %q, namespace = "Bad!" }))
      print(cr.containerd({ socket = %q }))
    ]]):format(env.sock, env.sock, env.dir .. "/none.sock")
    local r = testenv.sh(q(testenv.bin) .. " -e " .. q(code))
    assert.equal(0, r.code, r.stderr)
    assert.matches("default\t" .. env.gone .. "\t" .. IMAGE:gsub("%p", "%%%0") .. "\t%-\tstopped\t7\t%-\tstring\n",
      r.stdout)
    assert.matches("default\t" .. env.nerd .. "\t[^\t]+\t%-\trunning\t%-\t%d+\tstring\n", r.stdout)
    assert.matches("default\t" .. env.idle .. "\t[^\t]+\t%-\t%-\t%-\t%-\tstring\n", r.stdout)
    assert.not_matches("k8s.io", r.stdout, 1, true)
    assert.matches("nil\tcontainerd API [^\n]*Containers/List: [^\n]*%(gRPC status 3%)\tINVALID_ARGUMENT\n", r.stdout)
    assert.matches("nil\tcontainerd API " .. env.dir
      .. "/none.sock: cannot connect: No such file or directory\tENOENT\n", r.stdout, 1, true)
  end)

  it("never reads a state directory others could write", function()
    gate.check()
    local fake = testenv.tmpdir() -- under /tmp: world-writable above it
    local bundle = fake .. "/io.containerd.runtime.v2.task/k8s.io/" .. env.app
    testenv.sh_ok(("mkdir -p %s && cp %s/io.containerd.runtime.v2.task/k8s.io/%s/config.json %s/"):format(q(bundle),
      q(env.state), env.app, q(bundle)))
    local out = read_containers(("{ sockets = {}, data_root = '/nonexistent', podman_roots = {}, "
      .. "containerd_roots = { %q }, containerd_sockets = {} }"):format(fake))
    assert.not_matches("k8s:shop", out, 1, true)
    assert.matches("errors\t/tmp: writable by others", out, 1, true)
  end)

  it("listeners names the pod's container", function()
    gate.check()
    local port = tostring(env.base + 1)
    local r = connrecipe({ "listeners", "--all-netns", "--proto", "tcp", "--port", port })
    assert.equal(0, r.code, r.stderr)
    assert.matches("httpd/%d+%s+root%s+container k8s:shop/web%-0/app", r.stdout) -- the holder's container
    local j = connrecipe({ "listeners", "--all-netns", "--json", "--proto", "tcp", "--port", port })
    local doc = dkjson.decode(j.stdout)
    -- the socket's namespace is the pod's (its sandbox's); its holder is the app
    assert.equal("k8s:shop/web-0", doc.sockets[1].container_name, j.stdout)
  end)

  it("whoowns names the pod's container and its image", function()
    gate.check()
    local w = testenv.sh(("nsenter -t %s -n %s whoowns %d"):format(env.app_pid, q(testenv.bin), env.base + 1))
    assert.equal(0, w.code, w.stderr)
    assert.matches("container k8s:shop/web-0/app (" .. env.app:sub(1, 12) .. ")", w.stdout, 1, true)
    local j = testenv.sh(("nsenter -t %s -n %s whoowns --json %d"):format(env.app_pid, q(testenv.bin), env.base + 1))
    local doc = dkjson.decode(j.stdout)
    assert.equal(IMAGE, doc.sockets[1].holders[1].container_image, j.stdout)
  end)

  it("diagnose: the app listens in its pod, which nothing publishes here; the fix is Kubernetes'", function()
    gate.check()
    local port = env.base + 1
    local r = connrecipe({ "diagnose", "--json", "localhost:" .. port })
    local doc, f = testenv.report(r)
    assert.equal("container-port-not-published", doc.verdict, r.stdout)
    assert.matches("container k8s:shop/web-0/app listens on it", f["container-port-not-published"].summary, 1, true)
    assert.matches("kubectl -n shop port-forward pod/web-0 " .. port, f["container-port-not-published"].fix, 1, true)
    assert.matches("k8s:shop/web-0", f["other-netns"].summary, 1, true) -- by name, not by id
  end)

  it("diagnose: a port nerdctl published to a container that exited, with its exit code from the API", function()
    gate.check()
    local port = env.base + 3
    local r = connrecipe({ "diagnose", "--json", "localhost:" .. port })
    local doc, f = testenv.report(r)
    assert.equal("container-not-running", doc.verdict, r.stdout)
    assert.matches(("port %d is published by container crt-gone (%s), which is exited (exit code 7)"):format(port,
      IMAGE), f["container-not-running"].summary, 1, true)
    assert.matches("nerdctl logs crt-gone", f["container-not-running"].fix, 1, true)
  end)

  it("diagnose: a port nerdctl published to a container where nothing listens, in nerdctl's words", function()
    gate.check()
    local port = env.base + 2
    local r = connrecipe({ "diagnose", "--json", "localhost:" .. port })
    local doc, f = testenv.report(r)
    assert.equal("container-port-unused", doc.verdict, r.stdout)
    assert.matches(("port %d is published to port 80 of container crt-nerd, where nothing listens on any port")
      :format(port), f["container-port-unused"].summary, 1, true)
    assert.matches("nerdctl logs crt-nerd", f["container-port-unused"].fix, 1, true)
  end)
end)
