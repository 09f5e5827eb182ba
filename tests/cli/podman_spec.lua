-- podman's containers by name, against a real podman run inside a private
-- network namespace, with its own graph root (root-owned, so that connrecipe
-- may read its containers.json), run root and tmpdir, the vfs driver and
-- cgroupfs: first through its Engine-compatible API (`podman system
-- service` on a socket of this file's), then, the service stopped, from its
-- storage on disk, found through the conmon that watches each container.
-- The image is busybox-static imported from a directory (no registry).
-- Everything is removed at the end.
local testenv = require "testenv"
local images = require "images"
local dkjson = require "dkjson"
local q = testenv.quote

local IMAGE = "localhost/crtest-busybox:1"

local gate = testenv.setup_gate(function(why)
  pending(why)
end)
local env = {} -- ns, dir, graph, sock, base, made (paths this file created)

-- Its own everything; ulimits lowered to the ones this shell has, because
-- podman's defaults (nofile 1048576, nproc) need a hard limit the host may not give.
local function podman_cmd(args)
  return ("nsenter --net=/run/netns/%s podman --root %s --runroot %s/run --tmpdir %s/libpod --storage-driver vfs "
    .. "--cgroup-manager cgroupfs --events-backend file %s"):format(env.ns, q(env.graph), q(env.dir), q(env.dir), args)
end

local function podman(args)
  return testenv.sh(podman_cmd(args))
end

local function podman_ok(args)
  local r = podman(args)
  assert(r.code == 0, "podman " .. args .. ": " .. r.stderr)
  return r.stdout
end

local function reason_to_skip()
  if not testenv.is_root() then
    return "needs root (a network namespace and podman)"
  end
  for _, prog in ipairs({ "podman", "conmon", "nsenter", "ss" }) do
    if not testenv.have(prog) then
      return prog .. " not installed (apt-get install podman)"
    end
  end
  if not io.open(images.BUSYBOX) then
    return images.BUSYBOX .. " not installed (apt-get install busybox-static)"
  end
end

-- What podman leaves outside its own directories (its cgroup parent, the
-- blob cache of an import), removed at the end when this file made them.
local OUTSIDE = "/sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent /var/lib/containers"

local function existing()
  return testenv.sh("ls -d " .. OUTSIDE .. " 2>/dev/null").stdout
end

local function wait_listen(name, port)
  local pid = podman_ok("inspect -f '{{.State.Pid}}' " .. name):match("%d+")
  assert(testenv.wait_for(function()
    return testenv.sh(("nsenter -t %s -n ss -Htln 'sport = :%d'"):format(pid, port)).stdout:find("LISTEN") ~= nil
  end, 20), name .. " does not listen on " .. port)
  return pid
end

local function start_service()
  testenv.background("exec " .. podman_cmd("system service --time=0 unix://" .. env.sock))
  return testenv.wait_for(function()
    return testenv.sh("curl -sf --unix-socket " .. env.sock .. " http://d/_ping").stdout == "OK"
  end, 30)
end

local function setup_podman()
  gate.why = reason_to_skip()
  if gate.why then
    return
  end
  env.base = testenv.port_block()
  env.before = existing()
  env.ns = testenv.netns()
  env.dir = testenv.tmpdir() -- short: the API socket's name is limited to 107 bytes
  env.graph = testenv.trusted_tmpdir()
  env.sock = env.dir .. "/podman.sock"
  local rootfs = images.rootfs()
  local r = testenv.sh(("tar -C %s -c . | %s"):format(q(rootfs), podman_cmd("import - " .. IMAGE)))
  if r.code ~= 0 then
    gate.why = "podman cannot import an image here: " .. (r.stderr:match("[^\n]+") or "?")
    return
  end
  local limits = "--ulimit nofile=1024:1024 --ulimit nproc=16384:16384"
  r = podman(("run -d --name crp-web --network host %s %s httpd -f -p %d -h /www"):format(limits, IMAGE,
    env.base + 1))
  if r.code ~= 0 then
    gate.why = "podman cannot run a container here: " .. (r.stderr:match("([^\n]+)\n?$") or "?")
    return
  end
  podman_ok(("run -d --name crp-solo --network none %s %s httpd -f -p %d -h /www"):format(limits, IMAGE,
    env.base + 2))
  env.web_pid = wait_listen("crp-web", env.base + 1)
  wait_listen("crp-solo", env.base + 2)
  if not start_service() then
    gate.why = "podman system service did not start here"
  end
end

local function stop_service()
  local pid = testenv.sh("pgrep -f " .. q("system service --time=0 unix://" .. env.sock)).stdout:match("%d+")
  if pid then
    os.execute("kill -TERM " .. pid)
    testenv.wait_for(function()
      return not os.execute("kill -0 " .. pid .. " 2>/dev/null")
    end, 20)
  end
end

local function stop_podman()
  if env.graph then
    stop_service()
    podman("rm -f -t 0 -a")
    podman("rmi -a -f")
    -- each conmon runs podman's cleanup as it exits: let them finish before the directories go
    testenv.wait_for(function()
      return testenv.sh("pgrep -f " .. q("conmon .*" .. env.graph)).stdout == ""
    end, 20)
    for path in existing():gmatch("[^\n]+") do
      if not env.before:find(path .. "\n", 1, true) then
        -- a cgroup goes with rmdir, its children first; the blob cache with rm
        os.execute(path:match("^/sys/") and ("find %s -depth -type d -exec rmdir {} + 2>/dev/null"):format(q(path))
          or ("rm -rf " .. q(path)))
      end
    end
  end
  testenv.cleanup()
end

-- connrecipe inside the test's namespace; with the API socket unless api is false
local function connrecipe(args, api)
  local parts = {}
  for _, a in ipairs(args) do
    parts[#parts + 1] = q(a)
  end
  local prefix = api == false and "env -u DOCKER_HOST " or ("env DOCKER_HOST=unix://" .. env.sock .. " ")
  return testenv.sh(testenv.in_netns(env.ns, prefix .. q(testenv.bin) .. " " .. table.concat(parts, " ")))
end

local function read_containers(opts_text)
  local code = ([[
    local containers = require "connrecipe.containers"
    local read = containers.read(%s)
    for _, c in ipairs(read.list) do
      print(c.id, containers.label(c), c.engine, c.image or "-", c.state, c.source or "api")
    end
    print("sources", table.concat(read.sources, ","))
    print("errors", table.concat(read.errors, ","))
  ]]):format(opts_text)
  local r = testenv.sh(q(testenv.bin) .. " -e " .. q(code))
  assert(r.code == 0, r.stderr)
  return r.stdout
end

local function listeners_name(port, api)
  local r = connrecipe({ "listeners", "--all-netns", "--proto", "tcp", "--port", tostring(port) }, api)
  assert.equal(0, r.code, r.stderr)
  return r.stdout
end

describe("podman's containers (real podman)", function()
  setup(setup_podman)
  teardown(stop_podman)

  it("its API, whatever the socket is called, is podman's (Libpod-Api-Version)", function()
    gate.check()
    local out = read_containers(("{ sockets = { { path = %q, engine = 'docker' } }, data_root = '/nonexistent', "
      .. "podman_roots = {}, containerd_roots = {} }"):format(env.sock))
    assert.matches("\tcrp%-web\tpodman\t" .. IMAGE:gsub("%p", "%%%0") .. "\trunning\tapi", out)
    assert.matches("sources\tpodman API " .. env.sock, out, 1, true)
  end)

  it("listeners and whoowns name the container through the API", function()
    gate.check()
    assert.matches("container crp-web", listeners_name(env.base + 1), 1, true)
    local w = connrecipe({ "whoowns", "--json", tostring(env.base + 1) })
    local doc = dkjson.decode(w.stdout)
    assert.equal("crp-web", doc.sockets[1].holders[1].container_name, w.stdout)
    assert.equal(IMAGE, doc.sockets[1].holders[1].container_image, w.stdout)
  end)

  it("diagnose: an app in a container with no published port, and podman's fix", function()
    gate.check()
    local port = env.base + 2
    local r = connrecipe({ "diagnose", "--json", "localhost:" .. port })
    local doc, f = testenv.report(r)
    assert.equal("container-port-not-published", doc.verdict, r.stdout)
    assert.matches("container crp-solo listens on it", f["container-port-not-published"].summary, 1, true)
    assert.matches(("podman run -p %d:%d"):format(port, port), f["container-port-not-published"].fix, 1, true)
  end)

  it("without the API service: names from podman's storage, found through conmon", function()
    gate.check()
    stop_service()
    local out = read_containers("{ sockets = {}, data_root = '/nonexistent', containerd_roots = {} }")
    assert.matches("\tcrp%-web\tpodman\t" .. IMAGE:gsub("%p", "%%%0") .. "\trunning\tdisk", out)
    assert.matches("\tcrp%-solo\tpodman\t", out)
    assert.matches("sources\tpodman storage " .. env.graph, out, 1, true)
    assert.matches("container crp-web", listeners_name(env.base + 1, false), 1, true)
    local w = testenv.sh(("nsenter -t %s -n %s whoowns %d"):format(env.web_pid, q(testenv.bin), env.base + 1))
    assert.matches("container crp%-web %(%x+%)", w.stdout)
    -- and the storage file itself, named (no conmon needed to read it)
    out = read_containers(("{ sockets = {}, data_root = '/nonexistent', containerd_roots = {}, podman_roots = { %q } }")
      :format(env.graph))
    assert.matches("\tcrp%-solo\tpodman\t" .. IMAGE:gsub("%p", "%%%0") .. "\trunning\tdisk", out)
  end)
end)
