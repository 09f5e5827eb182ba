-- connrecipe.containers and what it stands on: cr.unix_request against real
-- Unix-socket servers (python3), the HTTP replies an engine gives, what the
-- engine says checked field by field, and cr.read_trusted /
-- cr.list_trusted_dir on real files.
local testenv = require "testenv"
local cr = require "connrecipe"
local containers = require "connrecipe.containers"

local q = testenv.quote

-- A python3 server on a Unix socket in dir: answers each connection with
-- `reply` (then closes), or with nothing and stays open when reply is nil.
local function serve(dir, reply)
  local path = dir .. "/s.sock"
  local script = dir .. "/srv.py"
  testenv.write_file(script, ([[
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(%q + ".tmp")
s.listen(8)
os.rename(%q + ".tmp", %q)  # the name appears only once it listens
reply = sys.stdin.buffer.read()
while True:
    c, _ = s.accept()
    c.recv(65536)
    if reply:
        c.sendall(reply)
        c.close()
    else:
        time.sleep(30)
]]):format(path, path, path))
  testenv.write_file(dir .. "/reply", reply or "")
  testenv.background("timeout 60 python3 " .. q(script) .. " < " .. q(dir .. "/reply"))
  assert(testenv.wait_socket(path))
  return path
end

local HTTP_JSON = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n[1,2,3]"

describe("cr.unix_request", function()
  after_each(testenv.cleanup)

  it("sends the request and returns the reply the peer closed after", function()
    if not testenv.have("python3") then
      return pending("python3 not installed")
    end
    local path = serve(testenv.tmpdir(), HTTP_JSON)
    local reply = cr.run(cr.unix_request, path, "GET / HTTP/1.1\r\n\r\n")
    assert.equal(HTTP_JSON, reply)
  end)

  it("times out on a peer that never closes, and bounds the reply", function()
    if not testenv.have("python3") then
      return pending("python3 not installed")
    end
    local path = serve(testenv.tmpdir(), nil)
    local reply, err, code = cr.run(cr.unix_request, path, "x", { timeout = 0.2 })
    assert.is_nil(reply)
    assert.equal("ETIMEDOUT", code, err)
    local big = serve(testenv.tmpdir(), ("y"):rep(5000))
    reply, err, code = cr.run(cr.unix_request, big, "x", { max_bytes = 1000 })
    assert.is_nil(reply)
    assert.equal("EMSGSIZE", code)
    assert.matches("exceeds 1000 bytes", err, 1, true)
  end)

  it("says why it cannot connect, in one line", function()
    local reply, err, code = cr.run(cr.unix_request, "/nonexistent/connrecipe.sock", "x")
    assert.is_nil(reply)
    assert.equal("ENOENT", code)
    assert.equal("cannot talk to /nonexistent/connrecipe.sock: no such file or directory", err)
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/plain", "not a socket")
    reply, err, code = cr.run(cr.unix_request, dir .. "/plain", "x")
    assert.is_nil(reply)
    assert.equal("ECONNREFUSED", code, err)
    reply, err, code = cr.run(cr.unix_request, ("/x"):rep(60), "x")
    assert.is_nil(reply)
    assert.equal("ENAMETOOLONG", code, err)
  end)

  it("rejects bad options with a clear error", function()
    assert.error_matches(function()
      cr.run(cr.unix_request, "/x", "x", { timeout = -1 })
    end, "timeout must be in")
    assert.error_matches(function()
      cr.run(cr.unix_request, "/x", "x", { max_bytes = 0 })
    end, "max_bytes must be in")
  end)
end)

describe("connrecipe.containers", function()
  it("parses HTTP replies: Content-Length, chunked, and what is not HTTP", function()
    local status, body, headers = containers.parse_http(HTTP_JSON)
    assert.same({ 200, "[1,2,3]" }, { status, body })
    assert.matches("\ncontent-type: application/json", headers, 1, true) -- lowercased, for the engine's name
    local chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n[1,2\r\n2\r\n,3\r\n1\r\n]\r\n0\r\n\r\n"
    status, body = containers.parse_http(chunked)
    assert.same({ 200, "[1,2,3]" }, { status, body })
    assert.same({ nil, "not an HTTP response" }, { containers.parse_http("garbage") })
    assert.same({ nil, "truncated HTTP headers" }, { containers.parse_http("HTTP/1.1 200 OK\r\nX: y") })
    assert.same({ nil, "malformed chunked body" },
      { containers.parse_http("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") })
  end)

  local ID = ("0123456789ab"):rep(5) .. "cdef"

  it("reads an inspect document field by field", function()
    local c = containers.from_inspect({
      Id = ID, Name = "/web", Config = { Image = "nginx:1" }, RestartCount = 4,
      State = { Status = "restarting", Restarting = true, ExitCode = 137, OOMKilled = true, Pid = 0 },
      HostConfig = { PortBindings = { ["80/tcp"] = { { HostIp = "", HostPort = "8080" } },
                                      ["53/udp"] = { { HostIp = "127.0.0.1", HostPort = "5353" } } } },
      NetworkSettings = { Networks = { bridge = { IPAddress = "172.17.0.2" } } },
    }, "docker")
    assert.equal("web", c.name)
    assert.equal("restarting", c.state)
    assert.equal(137, c.exit_code)
    assert.is_true(c.oom_killed)
    assert.is_nil(c.pid)
    assert.same({ { host_ip = "127.0.0.1", host_port = 5353, port = 53, proto = "udp" },
                  { host_ip = "", host_port = 8080, port = 80, proto = "tcp" } }, c.ports)
    assert.same({ "172.17.0.2" }, c.addresses)
    assert.equal("restarting (exit code 137), OOM-killed, restarted 4 times", containers.describe_state(c))
    assert.equal(c, containers.publishing({ c }, 8080)[1].container)
    assert.is_nil(containers.publishing({ c }, 8080, "udp")[1])
    assert.equal(c, containers.find({ c }, ID:sub(1, 12)))
  end)

  it("takes nothing on trust: wrong types, bad ids and ports are dropped, names escaped", function()
    assert.is_nil(containers.from_inspect("x"))
    assert.is_nil(containers.from_inspect({ Id = "nothex" }))
    assert.is_nil(containers.from_inspect({ Id = ID:sub(2) }))
    local c = containers.from_inspect({
      Id = ID, Name = "/bad\27]0;x\7", State = { ExitCode = "137", Running = true }, RestartCount = "lots",
      HostConfig = { PortBindings = { ["80/tcp"] = { { HostPort = "99999" }, { HostPort = "x" }, "nope" },
                                      ["bad"] = {}, ["70000/tcp"] = { { HostPort = "1" } } } },
      NetworkSettings = { Networks = "no" },
    })
    assert.equal("running", c.state)
    assert.is_nil(c.exit_code)
    assert.equal(0, c.restart_count)
    assert.same({}, c.ports)
    assert.same({}, c.addresses)
    assert.is_nil(containers.label(c):find("%c"))
  end)

  it("reads docker's state files only under a directory root owns and nobody else may write", function()
    local untrusted = testenv.tmpdir() -- under /tmp: writable by others
    local names, err, code = cr.list_trusted_dir(untrusted)
    assert.is_nil(names)
    assert.equal("EPERM", code)
    assert.matches("writable by others", err, 1, true)
    if not testenv.is_root() then
      return pending("needs root (a root-owned directory)")
    end
    local root = testenv.trusted_tmpdir()
    assert.same({}, cr.list_trusted_dir(root)) -- empty: no entries, no error
    local dir = root .. "/containers/" .. ID
    assert(os.execute("mkdir -p " .. q(dir) .. " && chmod 700 " .. q(dir)))
    testenv.write_file(dir .. "/config.v2.json", ([[{"ID":"%s","Name":"/db","Config":{"Image":"postgres"},
      "State":{"Running":false,"ExitCode":1,"StartedAt":"2026-01-01T00:00:00Z","OOMKilled":false},
      "RestartCount":2}]]):format(ID))
    testenv.write_file(dir .. "/hostconfig.json", [[{"PortBindings":{"5432/tcp":[{"HostIp":"","HostPort":"5432"}]}}]])
    assert(os.execute("chmod 600 " .. q(dir) .. "/*.json"))
    testenv.write_file(root .. "/containers/README", "not a container")
    local read = cr.run(containers.read, { sockets = {}, data_root = root, podman_roots = {}, containerd_roots = {} })
    assert.same({ "docker state " .. root }, read.sources)
    assert.equal(1, #read.list)
    local c = read.list[1]
    assert.equal("db", c.name)
    assert.equal("exited", c.state)
    assert.equal(1, c.exit_code)
    assert.equal(5432, c.ports[1].host_port)
    assert.equal("disk", c.source)
    -- a state file another user could have written is not read
    assert(os.execute("chmod 666 " .. q(dir) .. "/config.v2.json"))
    assert.equal(0, #cr.run(containers.read, { sockets = {}, data_root = root, podman_roots = {},
                                                containerd_roots = {} }).list)
    local text, why, ecode = cr.read_trusted(dir .. "/config.v2.json")
    assert.is_nil(text)
    assert.equal("EPERM", ecode, why)
    testenv.cleanup()
  end)

  it("gives up on an engine that stops answering, and says so", function()
    if not testenv.have("python3") then
      return pending("python3 not installed")
    end
    local dir = testenv.tmpdir()
    local path = dir .. "/engine.sock"
    testenv.write_file(dir .. "/engine.py", ([[
import os, socket, time
s = socket.socket(socket.AF_UNIX)
s.bind(%q + ".tmp")
s.listen(8)
os.rename(%q + ".tmp", %q)  # the name appears only once it listens
body = b'[{"Id":"%s"},{"Id":"%s"}]'
c, _ = s.accept()
c.recv(65536)
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %%d\r\n\r\n" %% len(body) + body)
c.close()
c, _ = s.accept()
time.sleep(30)
]]):format(path, path, path, ID, ("f"):rep(64)))
    testenv.background("timeout 60 python3 " .. q(dir .. "/engine.py"))
    assert(testenv.wait_socket(path))
    local read = cr.run(containers.read, { sockets = { { path = path, engine = "docker" } },
                                           data_root = "/nonexistent/docker", podman_roots = {},
                                           containerd_roots = {} })
    assert.same({}, read.list)
    assert.equal(1, #read.errors) -- one timeout, not one per container
    assert.matches("timed out", read.errors[1], 1, true)
    testenv.cleanup()
  end)

  it("no engine and no state: an empty list, and no error for what is not there", function()
    -- (podman's and containerd's usual places are the host's, where another run's containers may be: none here)
    local read = cr.run(containers.read, { sockets = { { path = "/nonexistent/docker.sock", engine = "docker" } },
                                           data_root = "/nonexistent/docker", podman_roots = {},
                                           containerd_roots = {} })
    assert.same({}, read.list)
    assert.same({}, read.errors)
    assert.same({}, read.sources)
  end)
end)

-- containerd's task bundles and podman's containers.json, as files in a
-- root-owned directory: what each field may hold, and what is not read.
describe("connrecipe.containerd and connrecipe.podman_disk", function()
  local containerd = require "connrecipe.containerd"
  local podman_disk = require "connrecipe.podman_disk"
  local A, B, C, D = ("a"):rep(64), ("b"):rep(64), ("c"):rep(64), ("d"):rep(64)

  local function bundle(root, ns, id, spec, pid)
    local dir = ("%s/io.containerd.runtime.v2.task/%s/%s"):format(root, ns, id)
    assert(os.execute("mkdir -p " .. q(dir)))
    testenv.write_file(dir .. "/config.json", spec)
    testenv.write_file(dir .. "/init.pid", tostring(pid or 1))
  end

  local function empty_out()
    return { list = {}, by_id = {}, sources = {}, errors = {} }
  end

  it("cr.process.cwd reads a process's working directory, never a bad pid's", function()
    assert.equal(testenv.sh("pwd -P").stdout:match("[^\n]+"), cr.process.cwd(cr.pid))
    local none, msg, code = cr.process.cwd(0x3ffffff0)
    assert.is_nil(none)
    assert.equal("ENOENT", code, msg)
    assert.has_error(function()
      cr.process.cwd(0)
    end, "bad argument #1 to 'cwd' (a process id > 0)")
  end)

  it("monitors.find names root's conmons and containerd shims by comm, and no other process", function()
    if not testenv.is_root() then
      return pending("needs root (only root's monitors count)")
    end
    local monitors = require "connrecipe.monitors"
    local dir = testenv.tmpdir()
    -- copies of sleep under the monitors' names: their comm is the file name, cut to 15 bytes
    local pids = {}
    for _, name in ipairs { "conmon", "containerd-shim-runc-v2", "conmonx" } do
      testenv.sh_ok(("cp /bin/sleep %s/%s"):format(dir, name))
      pids[name] = tonumber(testenv.sh_ok(("%s/%s 30 >/dev/null 2>&1 & echo $!"):format(dir, name)).stdout:match("%d+"))
    end
    local ok, err = pcall(function()
      local comms = assert(cr.process._pids_by_comm { "containerd-shim", "conmon" })
      assert.equal("conmon", comms[pids.conmon])
      assert.equal("containerd-shim", comms[pids["containerd-shim-runc-v2"]])
      assert.is_nil(comms[pids.conmonx])
      assert.is_nil(comms[cr.pid])
      local found = cr.run(monitors.find)
      local function has(list, pid)
        for _, p in ipairs(list) do
          if p.pid == pid then
            return true
          end
        end
        return false
      end
      assert.is_true(has(found.conmons, pids.conmon))
      assert.is_true(has(found.shims, pids["containerd-shim-runc-v2"]))
      assert.is_false(has(found.conmons, pids.conmonx))
    end)
    for _, pid in pairs(pids) do
      testenv.sh("kill " .. pid)
    end
    assert(ok, err)
  end)

  it("names Kubernetes' containers and sandboxes, nerdctl's; checks every field", function()
    if not testenv.is_root() then
      return pending("needs root (a root-owned directory)")
    end
    local root = testenv.trusted_tmpdir()
    bundle(root, "k8s.io", A, [[{"annotations":{"io.kubernetes.cri.container-type":"container",
      "io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"web-0",
      "io.kubernetes.cri.sandbox-namespace":"shop","io.kubernetes.cri.image-name":"nginx:1"}}]], 999999999)
    bundle(root, "k8s.io", B, [[{"annotations":{"io.kubernetes.cri.container-type":"sandbox",
      "io.kubernetes.cri.sandbox-name":"web-0","io.kubernetes.cri.sandbox-namespace":"shop"}}]])
    bundle(root, "default", C, [[{"annotations":{"nerdctl/name":"n1","nerdctl/ports":
      "[{\"HostPort\":8080,\"ContainerPort\":80,\"Protocol\":\"tcp\",\"HostIP\":\"0.0.0.0\"},
        {\"HostPort\":70000,\"ContainerPort\":80},{\"HostPort\":\"x\"},7]"}}]])
    bundle(root, "default", D, [[{"annotations":[1,2],"process":{}}]])
    bundle(root, "default", "not-hex", [[{}]])
    bundle(root, "moby", ("e"):rep(64), "not json")
    local out = empty_out()
    cr.run(containerd.read, out, { roots = { root } })
    local by = containers.index(out.list)
    assert.equal("k8s:shop/web-0/app", by[A].name)
    assert.equal("kubernetes", by[A].engine)
    assert.equal("nginx:1", by[A].image)
    assert.same({ namespace = "shop", pod = "web-0", container = "app", sandbox = false }, by[A].k8s)
    assert.equal("exited", by[A].state) -- its init.pid names no process
    assert.equal("k8s:shop/web-0", by[B].name)
    assert.is_true(by[B].k8s.sandbox)
    assert.equal("unknown", by[B].state) -- pid 1 runs, but not in this container's cgroup
    assert.equal("n1", by[C].name)
    assert.equal("nerdctl", by[C].engine)
    assert.same({ { host_ip = "0.0.0.0", host_port = 8080, port = 80, proto = "tcp" } }, by[C].ports)
    assert.is_nil(by[D].name)
    assert.equal("containerd", by[D].engine)
    assert.equal("default", by[D].namespace)
    assert.equal(4, #out.list) -- not the id that is no id, nor the spec that is not JSON:
    assert.matches("/config.json: not JSON", out.errors[1], 1, true)
    assert.same({ "containerd state " .. root }, out.sources)
    -- a bundle another user could have written is not read
    assert(os.execute(("chmod 666 %s/io.containerd.runtime.v2.task/k8s.io/%s/config.json"):format(q(root), A)))
    out = empty_out()
    cr.run(containerd.read, out, { roots = { root } })
    assert.is_nil(containers.index(out.list)[A])
    assert.matches("writable by others", table.concat(out.errors, "\n"), 1, true)
    testenv.cleanup()
  end)

  it("reads podman's containers.json: names, image; CRI-O's names as Kubernetes'", function()
    if not testenv.is_root() then
      return pending("needs root (a root-owned directory)")
    end
    local root = testenv.trusted_tmpdir()
    assert(os.execute(("mkdir -p %s/overlay-containers %s/vfs-containers"):format(q(root), q(root))))
    testenv.write_file(root .. "/overlay-containers/containers.json", ([=[[
      {"id":"%s","names":["web"],"image":"1234","metadata":"{\"image-name\":\"docker.io/library/nginx:1\"}"},
      {"id":"%s","names":["k8s_app_web-0_shop_0c1d-22_1"],"metadata":"not json"},
      {"id":"%s","names":["k8s_POD_web-0_shop_0c1d-22_0"]},
      {"id":"short","names":["x"]}, 7, {"id":"%s","names":"web2","image":["x"]}
    ]]=]):format(A, B, C, D))
    testenv.write_file(root .. "/vfs-containers/containers.json", "{ not json")
    local out = empty_out()
    cr.run(podman_disk.read, out, { roots = { root } })
    local by = containers.index(out.list)
    assert.equal("web", by[A].name)
    assert.equal("docker.io/library/nginx:1", by[A].image)
    assert.equal("podman", by[A].engine)
    assert.equal("unknown", by[A].state) -- no conmon watches it
    assert.equal("k8s:shop/web-0/app", by[B].name)
    assert.equal("kubernetes", by[B].engine)
    assert.equal("k8s:shop/web-0", by[C].name)
    assert.is_nil(by[D].name)
    assert.is_nil(by[D].image)
    assert.equal(4, #out.list)
    assert.matches("vfs-containers/containers.json: not JSON", out.errors[1], 1, true)
    assert.is_nil(podman_disk.k8s_name("k8s_a_b"))
    testenv.cleanup()
  end)
end)
