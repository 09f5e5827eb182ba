-- Containers by name, against a real dockerd: one started for this file in a
-- private network namespace (its bridge, its iptables rules and docker-proxy
-- stay there), with its own data root, exec root and API socket, stopped
-- at the end. The image is busybox-static imported from a directory (no
-- registry: nothing is pulled). Each container is one of diagnose's
-- container findings; connections go only to loopback inside that namespace.
local testenv = require "testenv"
local dkjson = require "dkjson"
local q = testenv.quote

local DOCKER = "/usr/bin/docker"
local BUSYBOX = "/bin/busybox"
local IMAGE = "crtest-busybox:1"

local gate = testenv.setup_gate(function(why)
  pending(why)
end)
local env = {} -- ns, dir, data_root, sock, base, pidfile

local function docker(args)
  return testenv.sh(DOCKER .. " -H unix://" .. env.sock .. " " .. args)
end

local function docker_ok(args)
  local r = docker(args)
  assert(r.code == 0, "docker " .. args .. ": " .. r.stderr)
  return r.stdout
end

local function reason_to_skip()
  if not testenv.is_root() then
    return "needs root (a network namespace and dockerd)"
  end
  for _, prog in ipairs({ "dockerd", "nsenter", "ss" }) do
    if not testenv.have(prog) then
      return prog .. " not installed (apt-get install docker.io)"
    end
  end
  if not io.open(DOCKER) then
    return DOCKER .. " not installed (apt-get install docker.io)"
  end
  if not io.open(BUSYBOX) then
    return BUSYBOX .. " not installed (apt-get install busybox-static)"
  end
end

local function start_dockerd()
  env.ns = testenv.netns()
  env.dir = testenv.tmpdir() -- short paths: Unix socket names are limited to 107 bytes
  env.data_root = testenv.trusted_tmpdir() -- trusted, so the on-disk fallback reads it
  env.sock = env.dir .. "/docker.sock"
  env.pidfile = env.dir .. "/dockerd.pid"
  testenv.background(("exec nsenter --net=/run/netns/%s dockerd --storage-driver=vfs --data-root %s "
    .. "--exec-root %s/exec -H unix://%s --pidfile %s >%s/dockerd.log 2>&1"):format(env.ns, q(env.data_root),
    q(env.dir), env.sock, env.pidfile, q(env.dir)))
  local up = testenv.wait_for(function()
    return docker("info").code == 0
  end, 60)
  if not up then
    local log = testenv.sh("tail -n 3 " .. q(env.dir .. "/dockerd.log")).stdout
    return "dockerd did not start here: " .. (log:match("([^\n]+)\n?$") or "no log")
  end
end

local function import_image()
  local root = testenv.tmpdir()
  testenv.sh_ok(("mkdir -p %s/bin %s/www && cp %s %s/bin/busybox && echo hello > %s/www/index.html"):format(
    root, root, BUSYBOX, root, root))
  for _, applet in ipairs({ "sh", "httpd", "nc", "sleep" }) do
    testenv.sh_ok(("ln -s busybox %s/bin/%s"):format(root, applet))
  end
  local r = testenv.sh(("tar -C %s -c . | %s -H unix://%s import - %s"):format(root, DOCKER, env.sock, IMAGE))
  assert(r.code == 0, "docker import: " .. r.stderr)
end

-- Every container at once, so that dockerd's start-up cost is paid once.
local function run_containers()
  local b = env.base
  local function run(name, args)
    docker_ok(("run -d --name %s %s"):format(name, args))
  end
  -- the classic: the app binds the container's loopback
  run("crt-loop", ("-p %d:%d %s httpd -f -p 127.0.0.1:%d -h /www"):format(b + 80, b + 180, IMAGE, b + 180))
  run("crt-exited", ("-p %d:%d %s sh -c 'exit 3'"):format(b + 81, b + 181, IMAGE))
  run("crt-wrong", ("-p %d:%d %s httpd -f -p %d -h /www"):format(b + 82, b + 182, IMAGE, b + 183))
  run("crt-good", ("-p %d:%d %s httpd -f -p %d -h /www"):format(b + 84, b + 184, IMAGE, b + 184))
  run("crt-unpub", ("%s httpd -f -p %d -h /www"):format(IMAGE, b + 90))
  run("crt-idle", ("-p %d:%d %s sleep 600"):format(b + 85, b + 185, IMAGE))
  for name, port in pairs({ ["crt-loop"] = b + 180, ["crt-wrong"] = b + 183, ["crt-good"] = b + 184,
                            ["crt-unpub"] = b + 90 }) do
    local pid = docker_ok("inspect -f '{{.State.Pid}}' " .. name):match("%d+")
    assert(testenv.wait_for(function()
      return testenv.sh(("nsenter -t %s -n ss -Htln 'sport = :%d'"):format(pid, port)).stdout:find("LISTEN") ~= nil
    end, 20), name .. " does not listen on " .. port)
  end
  assert(testenv.wait_for(function()
    return docker_ok("inspect -f '{{.State.Status}}' crt-exited"):find("exited") ~= nil
  end, 20), "crt-exited did not exit")
end

local function setup_docker()
  local why = reason_to_skip()
  if not why then
    env.base = testenv.port_block()
    why = start_dockerd()
  end
  if why then
    gate.why = why
    return
  end
  import_image()
  run_containers()
end

-- Stops what this file started: the containers, then dockerd (and the
-- containerd it runs), gently, so that nothing is left mounted.
local function stop_docker()
  if env.sock and docker("info").code == 0 then
    docker("rm -f crt-loop crt-exited crt-wrong crt-good crt-unpub crt-idle")
    local pid = testenv.sh("cat " .. q(env.pidfile)).stdout:match("%d+")
    if pid then
      os.execute("kill -TERM " .. pid)
      testenv.wait_for(function()
        return not os.execute("kill -0 " .. pid .. " 2>/dev/null")
      end, 30)
    end
  end
  testenv.cleanup()
end

-- connrecipe inside the test's namespace, told where the API socket is
local function connrecipe(args)
  local parts = {}
  for _, a in ipairs(args) do
    parts[#parts + 1] = q(a)
  end
  return testenv.sh(testenv.in_netns(env.ns, "env DOCKER_HOST=unix://" .. env.sock .. " " .. q(testenv.bin) .. " "
    .. table.concat(parts, " ")))
end

local function diagnose(port)
  local r = connrecipe({ "diagnose", "--json", "localhost:" .. port })
  local doc, by_id = testenv.report(r)
  return doc.verdict, by_id, r
end

describe("containers (real dockerd)", function()
  setup(setup_docker)
  teardown(stop_docker)

  it("container-loopback: docker-proxy accepts, the app binds 127.0.0.1 in its container", function()
    gate.check()
    local b = env.base
    local verdict, f = diagnose(b + 80)
    assert.equal("container-loopback", verdict)
    assert.matches(("container crt-loop listens on 127.0.0.1:%d only"):format(b + 180),
      f["container-loopback"].summary, 1, true)
    assert.matches("0.0.0.0", f["container-loopback"].fix, 1, true)
    -- followed through docker-proxy (or docker's DNAT): the app's fix, for its container, by name
    local up = f["upstream-failing"]
    assert.truthy(up, "no upstream-failing beside container-loopback")
    assert.matches("→ address%-mismatch$", up.evidence[1])
    local via = up.fix:match(("^in container crt%%-loop: make httpd %%(pid %%d+%%) listen on [%%d.]+ %%(or on every "
      .. "address, 0%%.0%%.0%%.0%%) instead of 127%%.0%%.0%%.1 only: (.+) connects to [%%d.]+:%d$"):format(b + 180))
    assert.truthy(via == "the DNAT rule in chain DOCKER" or (via or ""):match("^docker%-proxy %(pid %d+%)$"), up.fix)
    -- the containers are facts: a saved run replays the same verdict without the engine
    local saved = env.dir .. "/facts.json"
    local r = connrecipe({ "diagnose", "localhost:" .. (b + 80), "--save-facts", saved })
    assert.equal(1, r.code, r.stderr)
    r = testenv.run({ "diagnose", "--json", "--from-facts", saved })
    assert.equal("container-loopback", dkjson.decode(r.stdout).verdict, r.stderr)
  end)

  it("container-not-running gives the exit code", function()
    gate.check()
    local verdict, f = diagnose(env.base + 81)
    assert.equal("container-not-running", verdict)
    assert.matches("container crt-exited (" .. IMAGE .. "), which is exited (exit code 3)",
      f["container-not-running"].summary, 1, true)
    assert.matches("docker logs crt-exited", f["container-not-running"].fix, 1, true)
  end)

  it("container-port-unused names the port the app does use", function()
    gate.check()
    local b = env.base
    local verdict, f = diagnose(b + 82)
    assert.equal("container-port-unused", verdict)
    assert.matches(("port %d of container crt-wrong, where nothing listens; it listens on %d"):format(b + 182, b + 183),
      f["container-port-unused"].summary, 1, true)
  end)

  it("container-port-unused when nothing listens in the container at all", function()
    gate.check()
    local verdict, f = diagnose(env.base + 85)
    assert.equal("container-port-unused", verdict)
    assert.matches(("port %d of container crt-idle, where nothing listens on any port"):format(env.base + 185),
      f["container-port-unused"].summary, 1, true)
  end)

  it("container-port-not-published for an app listening in a container that publishes nothing", function()
    gate.check()
    local verdict, f = diagnose(env.base + 90)
    assert.equal("container-port-not-published", verdict)
    assert.matches("container crt-unpub listens on it", f["container-port-not-published"].summary, 1, true)
    assert.matches("container crt-unpub", f["other-netns"].summary, 1, true) -- by name, not by id
  end)

  it("a container that serves its published port is reachable", function()
    gate.check()
    local verdict, f = diagnose(env.base + 84)
    assert.equal("reachable", verdict)
    assert.is_nil(f["container-loopback"])
  end)

  it("listeners and whoowns name the container", function()
    gate.check()
    local r = connrecipe({ "listeners", "--all-netns", "--proto", "tcp", "--port", tostring(env.base + 184) })
    assert.equal(0, r.code, r.stderr)
    assert.matches("container crt-good", r.stdout, 1, true)
    local j = connrecipe({ "listeners", "--all-netns", "--json", "--proto", "tcp", "--port", tostring(env.base + 184) })
    local doc = dkjson.decode(j.stdout)
    assert.equal("crt-good", doc.sockets[1].container_name, j.stdout)
    local pid = docker_ok("inspect -f '{{.State.Pid}}' crt-good"):match("%d+")
    local w = testenv.sh(("nsenter -t %s -n env DOCKER_HOST=unix://%s %s whoowns %d"):format(pid, env.sock,
      q(testenv.bin), env.base + 184))
    assert.matches("container crt%-good %(%x+%)", w.stdout)
  end)

  it("reads docker's state on disk when no API answers", function()
    gate.check()
    local code = ([[
      local containers = require "connrecipe.containers"
      local read = containers.read { sockets = {}, data_root = %q }
      for _, c in ipairs(read.list) do
        print(c.name, c.state, c.exit_code, c.ports[1] and c.ports[1].host_port or "-")
      end
      print("sources", table.concat(read.sources, ","), table.concat(read.errors, ","))
    ]]):format(env.data_root)
    local r = testenv.sh(q(testenv.bin) .. " -e " .. q(code))
    assert.equal(0, r.code, r.stderr)
    assert.matches("crt%-exited\texited\t3\t" .. (env.base + 81), r.stdout)
    assert.matches("crt%-loop\trunning\t0\t" .. (env.base + 80), r.stdout)
    assert.matches("sources\tdocker state ", r.stdout, 1, true)
  end)
end)
