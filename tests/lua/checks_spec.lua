-- Every check of diagnose.lua from canned facts, without root, namespaces or
-- a network: facts in the format investigate gathers (and --save-facts
-- writes), built here or read from tests/fixtures/facts/ (runs saved with
-- --save-facts, replayed: each file is named after its verdict).
require "connrecipe" -- the embedded Lua modules
local checklist = require "connrecipe.checklist"
local investigate = require "connrecipe.investigate"
local target = require "connrecipe.target"

local source = os.getenv("CONNRECIPE_SOURCE_DIR")

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- diagnose.lua's list of checks, in its order
local NAMES, CHECKS = {}, {}
for name in read(source .. "/recipes/diagnose.lua"):gmatch('check "([%w_]+)"') do
  NAMES[#NAMES + 1] = name
  CHECKS[#CHECKS + 1] = require("connrecipe.checks." .. name)
end

-- The same list as diagnose.lua builds it: each check loaded when it first
-- runs, not run at all without the fact it needs (checklist.lazy).
local function lazy_checks()
  local list = {}
  for i, name in ipairs(NAMES) do
    list[i] = checklist.lazy(name)
  end
  return list
end

local NS, OTHER_NS = 4026530001, 4026530002
local inode = 1000

--- A TCP listener in our namespace (opts override): nginx, queue empty.
local function listener(addr, port, opts)
  inode = inode + 1
  local l = { addr = addr, port = port, family = addr:find(":", 1, true) and "inet6" or "inet", state = "listen",
              proto = "tcp", netns = NS, inode = inode, recvq = 0, sendq = 128, drops = 0,
              processes = { { pid = 200, comm = "nginx" } } }
  for k, v in pairs(opts or {}) do
    l[k] = v
  end
  return l
end

local function result(addr, status, errno)
  local family = addr:find(":", 1, true) and "inet6" or "inet"
  return { addr = addr, status = status, errno = errno, ms = 0.1, family = family }
end

--- Facts of a TCP target (o.target, default 127.0.0.1:8080) probed with
--- o.results, o.listeners in the dump (or o.dump_error), o.process and
--- o.unit as arguments, o.unit_state as facts.unit; any other field of o is a fact.
local function tcp(o)
  local t = assert(target.parse(o.target or "127.0.0.1:8080"))
  local facts = {
    schema = 1, pid = 100, netns = NS,
    args = { target = t, timeout = 2, process = o.process, unit = o.unit },
    security = { root = true },
    resolve = { addrs = { { addr = t.host, family = "inet" } } },
    local_addrs = { ["127.0.0.1"] = "lo", ["::1"] = "lo" },
    listen_drops = { before = 0, after = 0 }, listener_drops = { before = {}, after = {} },
    probe = { results = o.results or { result("127.0.0.1", "refused", "ECONNREFUSED") } },
    listeners = { list = o.listeners or {}, info = { namespaces = { { inode = NS, via = "self" } },
                                                    sources = { tcp4 = "netlink", tcp6 = "netlink" } } },
    unit = o.unit_state,
  }
  if o.dump_error then
    facts.listeners = { error = o.dump_error, code = o.dump_code }
  end
  local args = { target = true, results = true, listeners = true, process = true, unit = true, unit_state = true,
                 dump_error = true, dump_code = true }
  for k, v in pairs(o) do
    if not args[k] then
      facts[k] = v
    end
  end
  return facts
end

local function unix(path, status, o)
  local facts = { schema = 1, pid = 100, args = { target = assert(target.parse(path)), timeout = 2 },
                  security = { root = true, euid = 0 }, probe = status and { status = status, errno = "E" } }
  for k, v in pairs(o or {}) do
    facts[k] = v
  end
  return facts
end

-- The verdict id and the findings by id the checks reach from facts; the
-- lazy list (diagnose.lua's) must reach the very same.
local function diagnose(facts)
  local verdict, findings = checklist.explain(facts, CHECKS)
  local lazy_verdict, lazy_findings = checklist.explain(facts, lazy_checks())
  assert.same(findings, lazy_findings)
  assert.same(verdict, lazy_verdict)
  local by_id = {}
  for _, f in ipairs(findings) do
    by_id[f.id] = by_id[f.id] or f
  end
  return verdict and verdict.id, by_id, findings
end

local function text(f)
  return require("connrecipe.json").encode(f)
end

local REJECT = { action = "reject", source = "iptables", family = "ip", table = "filter", chain = "INPUT",
                 text = "-A INPUT -p tcp -m tcp --dport 8080 -j REJECT --reject-with tcp-reset" }
local DROP = { action = "drop", source = "nft", family = "inet", table = "crtest", chain = "in", handle = 4,
               text = "tcp dport 8080 drop" }

describe("checks", function()
  it("the lazy list names the same finding ids, and a misspelt check raises at once", function()
    assert.same(checklist.ids(CHECKS), checklist.ids(lazy_checks()))
    assert.error_matches(function()
      checklist.lazy("no_such_check")
    end, "module 'connrecipe.checks.no_such_check' not found")
  end)

  it("the lazy list skips a check that needs a fact only for facts without it", function()
    for i, name in ipairs(NAMES) do
      local needs = CHECKS[i].needs
      if needs then
        local can_find = assert(checklist._CAN_FIND[name], name)
        assert.is_false(can_find { args = { target = {} } }, name)
        assert.is_true(can_find { args = { target = {} }, [needs] = {} }, name)
      end
    end
  end)

  describe("resolve", function()
    it("name-unresolved names the EAI reason and the hosts file", function()
      local facts = tcp { target = "nosuch.test:80", resolve = { error = "cannot resolve", code = "EAI_NONAME" },
                          probe = false, resolver = { hosts_line = "files dns", nameservers = { "10.0.0.53" } },
                          hosts = { entries = {} } }
      facts.probe = nil
      local verdict, f = diagnose(facts)
      assert.equal("name-unresolved", verdict)
      assert.matches("EAI_NONAME", f["name-unresolved"].summary)
      assert.matches("/etc/hosts has no entry for nosuch.test", text(f["name-unresolved"]), 1, true)
    end)

    it("an unreadable /etc/hosts is unread, not without an entry", function()
      local facts = tcp { target = "nosuch.test:80", resolve = { error = "x", code = "EAI_NONAME" },
                          hosts = { error = "Permission denied" } }
      facts.probe = nil
      local _, f = diagnose(facts)
      assert.matches("/etc/hosts could not be read (Permission denied)", text(f["name-unresolved"]), 1, true)
      assert.not_matches("has no entry", text(f["name-unresolved"]))
    end)
  end)

  describe("unix", function()
    it("unix-socket-missing suggests a similar listening socket", function()
      local verdict, f = diagnose(unix("/run/redis.sock", "missing", { unix_sockets = {
        list = { { path = "/run/redis-server.sock", processes = { { pid = 9, comm = "redis-server" } } } },
        info = { sources = { unix = "netlink" } } } }))
      assert.equal("unix-socket-missing", verdict)
      assert.matches("/run/redis-server.sock held by redis-server (pid 9)", text(f["unix-socket-missing"]), 1, true)
    end)

    it("unix-socket-missing says the sockets were not read, not that none is similar", function()
      local _, f = diagnose(unix("/run/app.sock", "missing", { unix_sockets = { error = "Permission denied" } }))
      assert.matches("could not be read (Permission denied)", text(f["unix-socket-missing"]), 1, true)
    end)

    it("stale, denied, busy, not a socket, open, and a probe that failed", function()
      local socks = { unix_sockets = { list = {}, info = { sources = { unix = "netlink" } } } }
      assert.equal("stale-unix-socket", (diagnose(unix("/run/a.sock", "refused", socks))))
      assert.equal("unix-socket-missing", (diagnose(unix("unix:@abstract", "refused", socks))))
      local _, f = diagnose(unix("/run/a.sock", "denied", { unix_sockets = socks.unix_sockets,
        stat = "srwx------ root:root /run/a.sock", security = { euid = 65534, selinux = "enforcing" } }))
      assert.matches("srwx------ root:root", text(f["permission-denied"]), 1, true)
      assert.matches("SELinux is enforcing", text(f["permission-denied"]), 1, true)
      assert.equal("backlog-full", (diagnose(unix("/run/a.sock", "busy", socks))))
      assert.equal("not-a-socket", (diagnose(unix("/run/a.sock", "not-a-socket", socks))))
      assert.equal("reachable", (diagnose(unix("/run/a.sock", "open", socks))))
      local facts = unix("/run/a.sock", nil, { probe_error = "bad path" })
      assert.equal("probe-error", (diagnose(facts)))
    end)
  end)

  describe("proxy and reachable", function()
    local function open_facts(extra)
      local o = { results = { result("127.0.0.1", "open") }, listeners = { listener("127.0.0.1", 8080) } }
      for k, v in pairs(extra or {}) do
        o[k] = v
      end
      return tcp(o)
    end

    it("reachable names the accepting process", function()
      local verdict, f = diagnose(open_facts())
      assert.equal("reachable", verdict)
      assert.matches("nginx %(pid 200%)", f.reachable.summary)
    end)

    it("an unreachable proxy is the verdict; a reachable one is a warning beside reachable", function()
      local proxy = { url = "http://127.0.0.1:8080/", proxy = "http://127.0.0.1:3128", var = "http_proxy",
                      status = "refused" }
      local verdict, f = diagnose(open_facts { target = "http://127.0.0.1:8080/", proxy = proxy })
      assert.equal("proxy-env", verdict)
      assert.equal("error", f["proxy-env"].severity)
      proxy.status = "open"
      verdict, f = diagnose(open_facts { target = "http://127.0.0.1:8080/", proxy = proxy })
      assert.equal("reachable", verdict)
      assert.equal("warn", f["proxy-env"].severity)
    end)
  end)

  describe("address", function()
    it("address-mismatch: the listener is bound to another address", function()
      local verdict, f = diagnose(tcp { listeners = { listener("127.0.0.2", 8080) } })
      assert.equal("address-mismatch", verdict)
      assert.matches("127.0.0.2:8080", f["address-mismatch"].fix, 1, true)
    end)

    it("family-mismatch: the listener is IPv6 only", function()
      local verdict, f = diagnose(tcp { listeners = { listener("::1", 8080) } })
      assert.equal("family-mismatch", verdict)
      assert.matches("IPv6 only", f["family-mismatch"].summary)
    end)

    it("a warning when one of the name's addresses works and another does not", function()
      local verdict, f = diagnose(tcp { target = "localhost:8080",
        results = { result("::1", "refused", "ECONNREFUSED"), result("127.0.0.1", "open") },
        listeners = { listener("127.0.0.1", 8080) } })
      assert.equal("reachable", verdict)
      assert.equal("warn", f["family-mismatch"].severity)
    end)
  end)

  describe("container", function()
    local ID = ("ab12"):rep(16)
    local OTHER_ID = ("cd34"):rep(16)
    -- a container as connrecipe.containers reads it (o overrides)
    local function container(o)
      local c = { id = ID, name = "web1", image = "crbusy:1", engine = "docker", state = "running", exit_code = 0,
                  oom_killed = false, restart_count = 0, addresses = { "172.17.0.2" },
                  ports = { { host_ip = "", host_port = 8080, port = 80, proto = "tcp" } } }
      for k, v in pairs(o or {}) do
        c[k] = v
      end
      return c
    end
    local function in_container(addr, port, id)
      return listener(addr, port, { netns = OTHER_NS, container = id or ID,
                                    processes = { { pid = 300, comm = "httpd", container = id or ID } } })
    end
    local PROXY = listener("0.0.0.0", 8080, { processes = { { pid = 250, comm = "docker-proxy" } } })
    local OPEN = { result("127.0.0.1", "open") }

    it("container-loopback is the verdict, not reachable, when docker-proxy accepts for an app on loopback", function()
      local verdict, f = diagnose(tcp { results = OPEN, listeners = { PROXY, in_container("127.0.0.1", 80) },
                                        containers = { list = { container() } } })
      assert.equal("container-loopback", verdict)
      assert.matches("container web1 listens on 127.0.0.1:80 only", f["container-loopback"].summary, 1, true)
      assert.matches("0.0.0.0:80", f["container-loopback"].fix, 1, true)
      assert.is_nil(f.reachable) -- the forwarder accepts, but that is not reachable
    end)

    it("reachable stays the verdict when the app in the container listens on all addresses", function()
      local verdict, f = diagnose(tcp { results = OPEN, listeners = { PROXY, in_container("0.0.0.0", 80) },
                                        containers = { list = { container() } } })
      assert.equal("reachable", verdict)
      assert.is_nil(f["container-loopback"])
      assert.is_nil(f["container-port-unused"])
    end)

    it("container-port-unused names the port the app does use", function()
      local verdict, f = diagnose(tcp { results = OPEN, listeners = { PROXY, in_container("::", 8000) },
                                        containers = { list = { container() } } })
      assert.equal("container-port-unused", verdict)
      assert.matches("published to port 80 of container web1, where nothing listens; it listens on 8000",
        f["container-port-unused"].summary, 1, true)
      assert.matches("-p 8080:8000", f["container-port-unused"].fix, 1, true)
    end)

    it("says nothing of a running container whose namespace was not read", function()
      local verdict = diagnose(tcp { results = OPEN, listeners = { PROXY }, containers = { list = { container() } } })
      assert.equal("reachable", verdict)
    end)

    it("container-port-unused when the container's namespace was read and nothing listens in it", function()
      local facts = tcp { results = OPEN, listeners = { PROXY }, containers = { list = { container() } } }
      table.insert(facts.listeners.info.namespaces, { inode = OTHER_NS, via = "setns", container = ID })
      local verdict, f = diagnose(facts)
      assert.equal("container-port-unused", verdict)
      assert.matches("where nothing listens on any port", f["container-port-unused"].summary, 1, true)
      assert.matches("docker logs web1", f["container-port-unused"].fix, 1, true)
      facts.listeners.info.namespaces[2].error = "Permission denied"
      assert.equal("reachable", (diagnose(facts)))
    end)

    it("container-not-running gives the exit code, the OOM kill and the restarts", function()
      local verdict, f = diagnose(tcp { containers = { list = { container {
        state = "exited", exit_code = 137, oom_killed = true, restart_count = 3, pid = false } } } })
      assert.equal("container-not-running", verdict)
      local summary = f["container-not-running"].summary
      assert.matches("published by container web1 (crbusy:1), which is exited (exit code 137)", summary, 1, true)
      assert.matches("OOM-killed, restarted 3 times", summary, 1, true)
      assert.matches("memory", f["container-not-running"].fix, 1, true)
    end)

    it("container-not-running for a restarting container says it keeps failing", function()
      local verdict, f = diagnose(tcp { containers = { list = { container { state = "restarting", exit_code = 1,
                                                                                  restart_count = 12,
                                                                                  restart_policy = "always" } } } })
      assert.equal("container-not-running", verdict)
      assert.matches("restarting (exit code 1), restarted 12 times", f["container-not-running"].summary, 1, true)
      assert.matches("docker logs web1", f["container-not-running"].fix, 1, true)
      assert.matches("restart policy: always", text(f["container-not-running"]), 1, true)
    end)

    it("container-port-not-published when the app listens in a container that publishes nothing", function()
      local verdict, f = diagnose(tcp { listeners = { in_container("::", 8080, OTHER_ID) },
        containers = { list = { container { id = OTHER_ID, name = "api", ports = {} } } } })
      assert.equal("container-port-not-published", verdict)
      assert.matches("container api listens on it, but the port is not published",
        f["container-port-not-published"].summary, 1, true)
      assert.matches("-p 8080:8080", f["container-port-not-published"].fix, 1, true)
      assert.matches("container api", f["other-netns"].summary, 1, true) -- the name, not the id
    end)

    it("escapes a container's name and image (they come from the engine)", function()
      local verdict, f = diagnose(tcp { containers = { list = { container {
        name = "evil\27]0;x\7", image = "i\nmg", state = "exited" } } } })
      assert.equal("container-not-running", verdict)
      assert.is_nil(f["container-not-running"].summary:find("[%c]"))
      assert.is_nil(f["container-not-running"].fix:find("[%c]"))
    end)

    it("says nothing without containers, or for a remote target", function()
      assert.equal("no-listener", (diagnose(tcp { containers = { list = {} } })))
      assert.equal("no-listener", (diagnose(tcp { containers = { error = "not read" } })))
      local verdict = diagnose(tcp { target = "192.0.2.10:8080", results = { result("192.0.2.10", "timeout") },
                                     containers = { list = { container { state = "exited" } } } })
      assert.is_not.equal("container-not-running", verdict)
    end)
  end)

  describe("netns", function()
    it("other-netns names the namespace and the holder", function()
      local verdict, f = diagnose(tcp { listeners = { listener("127.0.0.1", 8080,
        { netns = OTHER_NS, netns_name = "web1" }) } })
      assert.equal("other-netns", verdict)
      assert.matches("netns web1", f["other-netns"].summary, 1, true)
      assert.matches("ip netns exec web1", f["other-netns"].fix, 1, true)
    end)
  end)

  describe("listener", function()
    it("no-listener, and a near port as a warning with where its owner sets it", function()
      local verdict, f = diagnose(tcp { listeners = { listener("127.0.0.1", 8081) }, udp = { list = {} },
                                        port_settings = { ["200"] = { "environment: PORT=8081" } } })
      assert.equal("no-listener", verdict)
      assert.equal("warn", f["port-mismatch"].severity)
      assert.matches("environment: PORT=8081", text(f["port-mismatch"]), 1, true)
    end)

    it("a near port's listener bound to another device: the fix says over which device", function()
      local _, f = diagnose(tcp { listeners = { listener("0.0.0.0", 8081, { dev = "veth0" }) }, udp = { list = {} } })
      assert.matches("connect to 127.0.0.1:8081 over veth0 (it is bound to that device)", f["port-mismatch"].fix, 1,
        true)
      assert.matches("0.0.0.0%veth0:8081 held by nginx", f["port-mismatch"].summary, 1, true)
    end)

    it("udp-only for a UDP socket on the wildcard; one bound elsewhere is evidence only", function()
      local udp = listener("0.0.0.0", 8080, { proto = "udp", state = "unconn" })
      local verdict, f = diagnose(tcp { udp = { list = { udp } } })
      assert.equal("udp-only", verdict)
      assert.matches("bound by nginx (pid 200)", f["udp-only"].summary, 1, true)
      udp.addr = "127.0.0.2"
      verdict, f = diagnose(tcp { udp = { list = { udp } } })
      assert.equal("no-listener", verdict)
      assert.matches("bound elsewhere", text(f["no-listener"]), 1, true)
    end)

    it("UDP sockets that could not be read are said to be unread", function()
      local _, f = diagnose(tcp { udp = { error = "Permission denied" } })
      assert.matches("could not be read (Permission denied)", text(f["no-listener"]), 1, true)
    end)
  end)

  describe("service", function()
    local function procs(list)
      table.insert(list, 1, { pid = 100, comm = "connrecipe", netns = NS })
      return { list = list }
    end

    it("service-not-running for --process, as the verdict over no-listener", function()
      local verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {}, udp = { list = {} } })
      assert.equal("service-not-running", verdict)
      assert.truthy(f["no-listener"])
    end)

    it("starting-up for a young process and for an activating unit", function()
      local verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 300, comm = "mydaemon", netns = NS, age = 2 } } })
      assert.equal("starting-up", verdict)
      assert.matches("waitfor", f["starting-up"].fix)
      verdict = diagnose(tcp { unit = "my.service", unit_state = { status = { ActiveState = "activating" } } })
      assert.equal("starting-up", verdict)
    end)

    it("process-zombie, not starting-up, for an expected process that exited unreaped; names the parent", function()
      local verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 290, comm = "supervise", cmdline = { "supervise", "--no-reap\n" }, netns = NS, state = "S" },
        { pid = 300, comm = "mydaemon", ppid = 290, age = 2, state = "Z" } } })
      assert.equal("process-zombie", verdict)
      assert.is_nil(f["starting-up"])
      assert.matches("mydaemon (pid 300) has exited", f["process-zombie"].summary, 1, true)
      assert.matches("parent supervise (pid 290) has not reaped", f["process-zombie"].summary, 1, true)
      assert.matches("parent supervise (pid 290): supervise --no-reap", text(f["process-zombie"]), 1, true)
      assert.matches("wait()", f["process-zombie"].fix, 1, true)
      -- pid 1 that does not reap: a container's entrypoint
      verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 1, comm = "sh", netns = NS, state = "S" },
        { pid = 300, comm = "mydaemon", ppid = 1, age = 2, state = "Z" } } })
      assert.equal("process-zombie", verdict)
      assert.matches("sh (pid 1) is pid 1 here and does not reap", f["process-zombie"].fix, 1, true)
    end)

    it("process-stopped, not starting-up or not-listening, with kill -CONT; a debugger's stop says so", function()
      local verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 300, comm = "mydaemon", netns = NS, age = 2, state = "T" } } })
      assert.equal("process-stopped", verdict)
      assert.is_nil(f["starting-up"])
      assert.equal("kill -CONT 300 (or fg in the shell that stopped it)", f["process-stopped"].fix)
      verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 300, comm = "mydaemon", netns = NS, age = 5000, state = "t" } } })
      assert.equal("process-stopped", verdict)
      assert.is_nil(f["not-listening"])
      assert.matches("debugger", f["process-stopped"].summary)
    end)

    it("process-stopped over reachable when every holder of the accepting listener is stopped", function()
      local l = listener("127.0.0.1", 8080, { recvq = 1, sendq = 5 })
      local verdict, f = diagnose(tcp { results = { result("127.0.0.1", "open") }, listeners = { l },
        holders = { ["200"] = { pid = 200, comm = "nginx", state = "T", ppid = 1 } } })
      assert.equal("process-stopped", verdict)
      assert.matches("only the kernel answers: nginx (pid 200)", f["process-stopped"].summary, 1, true)
      assert.matches("accept queue: 1 waiting, limit 5", text(f["process-stopped"]), 1, true)
      assert.equal("kill -CONT 200 (or fg in the shell that stopped it)", f["process-stopped"].fix)
      -- one holder still running accepts: reachable
      l = listener("127.0.0.1", 8080, { processes = { { pid = 200, comm = "nginx" }, { pid = 201, comm = "nginx" } } })
      verdict = diagnose(tcp { results = { result("127.0.0.1", "open") }, listeners = { l },
        holders = { ["200"] = { state = "T" }, ["201"] = { state = "S" } } })
      assert.equal("reachable", verdict)
      -- a holder whose state could not be read: no claim
      verdict = diagnose(tcp { results = { result("127.0.0.1", "open") }, listeners = { listener("127.0.0.1", 8080) },
        holders = { ["200"] = { error = "no process 200" } } })
      assert.equal("reachable", verdict)
    end)

    it("a leader in Z whose threads run is running: not-listening, not process-zombie; all stopped: stopped", function()
      local verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 300, comm = "mydaemon", netns = NS, age = 5000, state = "Z", ppid = 1, live_threads = 3,
          threads_state = "S" } } })
      assert.equal("no-listener", verdict) -- over the warning that the program runs without listening
      assert.is_nil(f["process-zombie"])
      assert.matches("mydaemon (pid 300) runs (for 83 min; main thread exited, 3 threads still running)",
        f["not-listening"].summary, 1, true)
      verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 300, comm = "mydaemon", netns = NS, age = 5000, state = "Z", ppid = 1, live_threads = 1,
          threads_state = "T" } } })
      assert.equal("process-stopped", verdict)
      assert.matches("state T (stopped)", text(f["process-stopped"]), 1, true)
      assert.matches("main thread exited, 1 thread still there (stopped)", text(f["process-stopped"]), 1, true)
      -- a holder of the listener: its threads' state counts
      local l = listener("127.0.0.1", 8080)
      verdict = diagnose(tcp { results = { result("127.0.0.1", "open") }, listeners = { l },
        holders = { ["200"] = { pid = 200, comm = "nginx", state = "Z", live_threads = 2, threads_state = "S" } } })
      assert.equal("reachable", verdict)
      verdict = diagnose(tcp { results = { result("127.0.0.1", "open") }, listeners = { l },
        holders = { ["200"] = { pid = 200, comm = "nginx", state = "Z", live_threads = 2, threads_state = "T" } } })
      assert.equal("process-stopped", verdict)
    end)

    it("a running process beside a zombie of the same name is the one judged", function()
      local verdict = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 300, comm = "mydaemon", netns = NS, age = 5000, state = "Z", ppid = 1 },
        { pid = 301, comm = "mydaemon", netns = NS, age = 2, state = "S" } } })
      assert.equal("starting-up", verdict)
    end)

    it("port-mismatch as the verdict when the usual program listens elsewhere", function()
      local verdict, f = diagnose(tcp { target = "127.0.0.1:6379",
        listeners = { listener("127.0.0.1", 6380, { processes = { { pid = 300, comm = "redis-server" } } }) },
        processes = procs { { pid = 300, comm = "redis-server", netns = NS, age = 100 } },
        port_settings = { ["300"] = { "cmdline: --port 6380" } } })
      assert.equal("port-mismatch", verdict)
      assert.equal("error", f["port-mismatch"].severity)
      assert.matches("cmdline: --port 6380", text(f["port-mismatch"]), 1, true)
      -- stopped, it would not accept there either: said beside it
      verdict, f = diagnose(tcp { target = "127.0.0.1:6379",
        listeners = { listener("127.0.0.1", 6380, { processes = { { pid = 300, comm = "redis-server" } } }) },
        processes = procs { { pid = 300, comm = "redis-server", netns = NS, age = 100, state = "T" } } })
      assert.equal("port-mismatch", verdict)
      assert.matches("is stopped (state T): it accepts nothing until continued (kill -CONT 300)",
        text(f["port-mismatch"]), 1, true)
    end)

    it("other-netns as a warning for a --process running in another namespace", function()
      local verdict, f = diagnose(tcp { process = "mydaemon", processes = procs {
        { pid = 300, comm = "mydaemon", netns = OTHER_NS } } })
      assert.equal("no-listener", verdict)
      assert.equal("warn", f["other-netns"].severity)
    end)

    it("process-check-incomplete, not service-not-running, when the process list is blind", function()
      local verdict, f = diagnose(tcp { process = "mydaemon", processes = { list = {} } })
      assert.equal("no-listener", verdict)
      assert.is_nil(f["service-not-running"])
      assert.matches("not visible", f["process-check-incomplete"].summary)
    end)

    it("not-listening; and with owners it could not see, no claim that it listens nowhere", function()
      local running = procs { { pid = 300, comm = "mydaemon", netns = NS, age = 1000 } }
      local _, f = diagnose(tcp { process = "mydaemon", processes = running })
      assert.matches("listens on no TCP port", f["not-listening"].summary)
      _, f = diagnose(tcp { process = "mydaemon", processes = running,
                            listeners = { listener("127.0.0.1", 9000, { processes = {}, owner_unknown = true }) } })
      assert.not_matches("listens on no TCP port", f["not-listening"].summary)
      assert.matches("run as root", f["not-listening"].fix)
    end)

    it("unit-state-unknown when the unit's state cannot be read", function()
      local _, f = diagnose(tcp { unit = "my.service", unit_state = { error = "systemd is not running" },
                                  processes = procs {} })
      assert.equal("info", f["unit-state-unknown"].severity)
    end)
  end)

  describe("firewall and backlog", function()
    local function refused_with_listener(extra)
      local o = { listeners = { listener("127.0.0.1", 8080) } }
      for k, v in pairs(extra) do
        o[k] = v
      end
      return tcp(o)
    end

    it("firewall rules in the facts of a refusal with no listener (a hand-edited file) are no crash", function()
      assert.equal("no-listener", (diagnose(tcp { firewall = { hits = {} }, udp = { list = {} } })))
      assert.equal("no-listener", (diagnose(tcp { firewall = { error = "permission denied", code = "EPERM" },
                                                 udp = { list = {} } })))
    end)

    it("firewall-reject quotes the rule and the delete command", function()
      local verdict, f = diagnose(refused_with_listener { firewall = { hits = { REJECT } } })
      assert.equal("firewall-reject", verdict)
      assert.matches("iptables -t filter -D INPUT", f["firewall-reject"].fix, 1, true)
    end)

    it("refused-unexplained, never firewall-reject, when the rules were read and none matches", function()
      local verdict, f = diagnose(refused_with_listener { firewall = { hits = {} } })
      assert.equal("refused-unexplained", verdict)
      assert.is_nil(f["firewall-reject"])
      local found = text(f["refused-unexplained"])
      assert.matches("checked: no nft or iptables rule rejects it", found, 1, true)
      assert.matches("checked: the listener is bound to no device", found, 1, true)
      assert.matches("checked: its accept queue has room (0 waiting, limit 128)", found, 1, true)
      assert.matches("not checked: cgroup eBPF programs", found, 1, true)
      assert.matches("bpftool cgroup tree", f["refused-unexplained"].fix, 1, true)
      assert.matches("(no firewall rule, device binding, full queue)", f["refused-unexplained"].summary, 1, true)
    end)

    it("refused-unexplained says the device binding was not checked from /proc/net", function()
      local verdict, f = diagnose(refused_with_listener { firewall = { hits = {} },
        listeners = { listener("0.0.0.0", 8080, { dev_unknown = true, drops = nil, sendq = 0 }) } })
      assert.equal("refused-unexplained", verdict)
      assert.matches("not checked: whether the listener is bound to a device", text(f["refused-unexplained"]), 1, true)
      assert.matches("(no firewall rule, full queue)", f["refused-unexplained"].summary, 1, true)
    end)

    it("bound-to-device: a listener bound to another device refuses a loopback client; names the device", function()
      local bound = listener("0.0.0.0", 8080, { dev = "veth0" })
      local facts = refused_with_listener { firewall = { hits = {} }, listeners = { bound } }
      facts.local_addrs["10.9.0.1"] = "veth0"
      local verdict, f = diagnose(facts)
      assert.equal("bound-to-device", verdict)
      assert.is_nil(f["refused-unexplained"])
      assert.is_nil(f["firewall-reject"])
      local b = f["bound-to-device"]
      assert.matches("bound to device veth0 (SO_BINDTODEVICE)", b.summary, 1, true)
      assert.matches("this one arrives on lo", b.summary, 1, true)
      assert.matches("0.0.0.0%veth0:8080 held by nginx (pid 200)", text(b), 1, true)
      assert.matches("connect to 10.9.0.1:8080 (an address on veth0)", b.fix, 1, true)
    end)

    it("bound-to-device: a client to the device's own address arrives on it; the binding is no cause", function()
      local facts = refused_with_listener { target = "10.9.0.1:8080", firewall = { hits = {} },
        results = { result("10.9.0.1", "refused", "ECONNREFUSED") },
        listeners = { listener("0.0.0.0", 8080, { dev = "veth0" }) } }
      facts.local_addrs["10.9.0.1"] = "veth0"
      local verdict, f = diagnose(facts)
      assert.equal("refused-unexplained", verdict)
      assert.is_nil(f["bound-to-device"])
      assert.matches("bound to veth0, the device the connection arrives on", text(f["refused-unexplained"]), 1, true)
    end)

    it("a listener bound to lo serves a loopback client; an unbound one beside a bound one too", function()
      local _, f = diagnose(refused_with_listener { firewall = { hits = {} },
        listeners = { listener("127.0.0.1", 8080, { dev = "lo" }) } })
      assert.is_nil(f["bound-to-device"])
      _, f = diagnose(refused_with_listener { firewall = { hits = {} },
        listeners = { listener("0.0.0.0", 8080, { dev = "veth0" }), listener("0.0.0.0", 8080) } })
      assert.is_nil(f["bound-to-device"])
    end)

    -- VRF facts as investigate reads them: vrf-blue (table 10) with veth0 in it.
    local function vrf(o)
      local v = { devices = { lo = {}, ["vrf-blue"] = { kind = "vrf", vrf_table = 10 },
                              veth0 = { kind = "veth", master = "vrf-blue" }, eth0 = {} },
                  client = false, l3mdev_accept = 0 }
      for k, x in pairs(o or {}) do
        v[k] = x
      end
      return v
    end

    it("bound-to-vrf, not bound-to-device: a listener in a VRF refuses a default-VRF client; the sysctl said",
      function()
        local facts = refused_with_listener { firewall = { hits = {} }, vrf = vrf(),
          listeners = { listener("0.0.0.0", 8080, { dev = "vrf-blue" }) } }
        local verdict, f = diagnose(facts)
        assert.equal("bound-to-vrf", verdict)
        assert.is_nil(f["bound-to-device"])
        assert.is_nil(f["refused-unexplained"])
        local b = f["bound-to-vrf"]
        assert.matches("nginx (pid 200) listens in VRF vrf-blue (bound to the VRF device vrf-blue)", b.summary, 1, true)
        assert.matches("this client is in the default VRF", b.summary, 1, true)
        assert.matches("0.0.0.0%vrf-blue:8080 held by nginx (pid 200)", text(b), 1, true)
        assert.matches("vrf-blue is a VRF device (routing table 10; member interfaces: veth0)", text(b), 1, true)
        assert.matches("net.ipv4.tcp_l3mdev_accept = 0", text(b), 1, true)
        assert.matches("ip vrf exec vrf-blue CMD", b.fix, 1, true)
        assert.matches("set net.ipv4.tcp_l3mdev_accept=1 (now 0)", b.fix, 1, true)
        -- the sysctl already on: the fix says so instead of asking for it
        facts.vrf.l3mdev_accept = 1
        verdict, f = diagnose(facts)
        assert.equal("bound-to-vrf", verdict)
        assert.matches("(net.ipv4.tcp_l3mdev_accept is already 1)", f["bound-to-vrf"].fix, 1, true)
        -- a client in another VRF is named
        facts.vrf.devices["vrf-red"] = { kind = "vrf", vrf_table = 20 }
        facts.vrf.client = "vrf-red"
        verdict, f = diagnose(facts)
        assert.equal("bound-to-vrf", verdict)
        assert.matches("this client is in VRF vrf-red", f["bound-to-vrf"].summary, 1, true)
      end)

    it("client-in-vrf: a client in a VRF is refused by a default-VRF listener unless tcp_l3mdev_accept=1", function()
      local facts = refused_with_listener { firewall = { hits = {} }, vrf = vrf { client = "vrf-blue" },
        listeners = { listener("0.0.0.0", 8080) } }
      local verdict, f = diagnose(facts)
      assert.equal("client-in-vrf", verdict)
      assert.is_nil(f["refused-unexplained"])
      local c = f["client-in-vrf"]
      assert.matches("this client runs in VRF vrf-blue and nginx (pid 200) listens in the default VRF", c.summary, 1,
        true)
      assert.matches("net.ipv4.tcp_l3mdev_accept = 0 takes only default-VRF connections", c.summary, 1, true)
      assert.matches("come bound to vrf-blue (ip vrf exec vrf-blue)", text(c), 1, true)
      assert.matches("sysctl -w net.ipv4.tcp_l3mdev_accept=1", c.fix, 1, true)
      -- with the sysctl on, or the listener in the client's VRF, VRFs explain nothing
      facts.vrf.l3mdev_accept = 1
      verdict, f = diagnose(facts)
      assert.equal("refused-unexplained", verdict)
      assert.matches("checked: VRFs: this client is in VRF vrf-blue", text(f["refused-unexplained"]), 1, true)
      facts.vrf.l3mdev_accept = nil -- unread: no claim
      facts.vrf.l3mdev_accept_error = "permission denied"
      verdict = diagnose(facts)
      assert.equal("refused-unexplained", verdict)
      verdict = diagnose(refused_with_listener { firewall = { hits = {} }, vrf = vrf { client = "vrf-blue" },
        listeners = { listener("0.0.0.0", 8080, { dev = "vrf-blue" }) } })
      assert.equal("refused-unexplained", verdict)
    end)

    it("bound-to-device on a member of a VRF: its address is reached from inside the VRF", function()
      local facts = refused_with_listener { firewall = { hits = {} }, vrf = vrf(),
        listeners = { listener("0.0.0.0", 8080, { dev = "veth0" }) } }
      facts.local_addrs["10.9.0.1"] = "veth0"
      local verdict, f = diagnose(facts)
      assert.equal("bound-to-device", verdict)
      assert.matches("veth0 is a member of VRF vrf-blue (routing table 10)", text(f["bound-to-device"]), 1, true)
      assert.matches("connect to 10.9.0.1:8080 (an address on veth0) from inside VRF vrf-blue (ip vrf exec "
        .. "vrf-blue CMD)", f["bound-to-device"].fix, 1, true)
    end)

    it("VRFs unread or not in play: the device check and refused-unexplained as before", function()
      -- a device that is no VRF: bound-to-device
      local verdict = diagnose(refused_with_listener { firewall = { hits = {} }, vrf = vrf(),
        listeners = { listener("0.0.0.0", 8080, { dev = "eth0" }) } })
      assert.equal("bound-to-device", verdict)
      -- the VRF facts unread: no VRF claim, and refused-unexplained says what was not checked
      local f
      verdict, f = diagnose(refused_with_listener { firewall = { hits = {} },
        vrf = { error = "cannot list devices (rtnetlink): Permission denied" },
        listeners = { listener("0.0.0.0", 8080) } })
      assert.equal("refused-unexplained", verdict)
      assert.matches("not checked: VRFs (cannot list devices", text(f["refused-unexplained"]), 1, true)
    end)

    it("a reject rule is still named beside a device binding", function()
      local verdict, f = diagnose(refused_with_listener { firewall = { hits = { REJECT } },
        listeners = { listener("0.0.0.0", 8080, { dev = "veth0" }) } })
      assert.equal("bound-to-device", verdict)
      assert.truthy(f["firewall-reject"])
    end)

    it("firewall-check-incomplete, not refused-unexplained, when the rules could not be read", function()
      local verdict, f = diagnose(refused_with_listener { firewall = { error = "permission denied", code = "EPERM" } })
      assert.equal("firewall-check-incomplete", verdict)
      assert.is_nil(f["firewall-reject"])
      assert.is_nil(f["refused-unexplained"])
      assert.matches("run as root", f["firewall-check-incomplete"].fix)
    end)

    it("backlog-full on a refusal when the queue is over its limit", function()
      local verdict = diagnose(refused_with_listener { listeners = { listener("127.0.0.1", 8080,
        { recvq = 129, sendq = 128 }) }, firewall = { hits = {} } })
      assert.equal("backlog-full", verdict)
    end)

    it("firewall-drop on a timeout, with a full queue as a warning beside it", function()
      local full = listener("127.0.0.1", 8080, { drops = 5 })
      local verdict, f = diagnose(tcp { results = { result("127.0.0.1", "timeout", "ETIMEDOUT") },
        listeners = { full }, firewall = { hits = { DROP } },
        listener_drops = { before = { [tostring(full.inode)] = 1 }, after = { [tostring(full.inode)] = 5 } } })
      assert.equal("firewall-drop", verdict)
      assert.equal("warn", f["backlog-full"].severity)
      assert.matches("nft delete rule inet crtest in handle 4", f["firewall-drop"].fix, 1, true)
    end)

    it("a timeout with unread rules says so beside it, and in its fix", function()
      local verdict, f = diagnose(tcp { results = { result("127.0.0.1", "timeout", "ETIMEDOUT") },
        listeners = { listener("127.0.0.1", 8080) }, firewall = { error = "permission denied", code = "EPERM" } })
      assert.equal("timeout", verdict)
      assert.equal("warn", f["firewall-check-incomplete"].severity)
      assert.matches("could not be read", f.timeout.fix)
    end)
  end)

  describe("connect", function()
    it("timeout, connection-reset, host-unreachable, probe-error", function()
      local function verdict_of(status, extra)
        local o = { results = { result("127.0.0.1", status, "E") }, firewall = { hits = {} } }
        for k, v in pairs(extra or {}) do
          o[k] = v
        end
        return (diagnose(tcp(o)))
      end
      assert.equal("timeout", verdict_of("timeout"))
      assert.equal("connection-reset", verdict_of("reset"))
      assert.equal("host-unreachable", verdict_of("unreachable"))
      assert.equal("permission-denied", verdict_of("denied"))
      assert.equal("probe-error", verdict_of("weird"))
    end)

    it("ipv6-disabled, else ephemeral-ports-exhausted, for EADDRNOTAVAIL", function()
      local verdict = diagnose(tcp { target = "[::1]:8080", results = { result("::1", "addr-unavailable") },
                                     ipv6 = { enabled = false, why = "net.ipv6.conf.all.disable_ipv6 = 1" } })
      assert.equal("ipv6-disabled", verdict)
      local f
      verdict, f = diagnose(tcp { results = { result("127.0.0.1", "addr-unavailable") },
                                  port_range = { first = 40000, last = 40000, available = 1 } })
      assert.equal("ephemeral-ports-exhausted", verdict)
      assert.matches("40000-40000, 1 usable", text(f["ephemeral-ports-exhausted"]), 1, true)
    end)

    it("an IPv6 state that could not be read is not 'IPv6 is disabled'", function()
      local verdict, f = diagnose(tcp { target = "[::1]:8080", results = { result("::1", "addr-unavailable") },
        ipv6 = { error = "/proc/sys/net/ipv6/conf/all/disable_ipv6: permission denied" },
        port_range = { first = 32768, last = 60999, available = 28232 } })
      assert.equal("ephemeral-ports-exhausted", verdict)
      assert.is_nil(f["ipv6-disabled"])
      assert.matches("whether IPv6 is enabled could not be read (/proc/sys", text(f["ephemeral-ports-exhausted"]), 1,
        true)
    end)
  end)

  describe("remote", function()
    it("remote-refused, remote-timeout, host-unreachable; an outgoing rule of ours first", function()
      local function verdict_of(status, hits)
        return (diagnose(tcp { target = "10.9.9.9:80", results = { result("10.9.9.9", status, "E") },
                               firewall = { hits = hits or {} } }))
      end
      assert.equal("remote-refused", verdict_of("refused"))
      assert.equal("remote-timeout", verdict_of("timeout"))
      assert.equal("host-unreachable", verdict_of("unreachable"))
      assert.equal("firewall-drop", verdict_of("timeout", { DROP }))
    end)
  end)

  describe("gaps", function()
    it("listener-check-incomplete is the verdict when this namespace's tables could not be read", function()
      local facts = tcp { dump_error = "Permission denied", dump_code = "EACCES" }
      local verdict, f = diagnose(facts)
      assert.equal("listener-check-incomplete", verdict)
      assert.equal("error", f["listener-check-incomplete"].severity)
      assert.is_nil(f["no-listener"])
      assert.matches("run as root", f["listener-check-incomplete"].fix)
    end)

    it("a warning beside no-listener for another namespace; info beside reachable; owner-unknown", function()
      -- as nobody under hidepid, reachable: other namespaces do not matter, this one's tables do
      local facts = tcp { udp = { list = {} } }
      facts.listeners.info.namespaces[2] = { inode = OTHER_NS, name = "web1", error = "Operation not permitted",
                                             errno = "EPERM" }
      local verdict, f = diagnose(facts)
      assert.equal("no-listener", verdict)
      assert.equal("warn", f["listener-check-incomplete"].severity)
      facts = tcp { results = { result("127.0.0.1", "open") },
                    listeners = { listener("127.0.0.1", 8080, { processes = {}, owner_unknown = true }) } }
      facts.listeners.info.hidepid = true
      facts.security = { root = false, proc_restricted = true, hidepid = "2" }
      verdict, f = diagnose(facts)
      assert.equal("reachable", verdict)
      assert.is_nil(f["listener-check-incomplete"])
      facts.listeners.info.error, facts.listeners.info.errno = "Permission denied", "EACCES"
      verdict, f = diagnose(facts)
      assert.equal("reachable", verdict)
      assert.equal("info", f["listener-check-incomplete"].severity)
      assert.equal("info", f["owner-unknown"].severity)
    end)

    it("a namespace that vanished during the dump is not a gap", function()
      local facts = tcp { udp = { list = {} } }
      facts.listeners.info.namespaces[2] = { inode = OTHER_NS, name = "gone", error = "No such process",
                                             errno = "ESRCH" }
      local _, f = diagnose(facts)
      assert.is_nil(f["listener-check-incomplete"])
    end)
  end)

  describe("hops", function()
    local UP_NS = 4026530009
    -- the facts of an upstream read inside UP_NS: refused there, nothing listening
    local function upstream_facts(o)
      local up = tcp { target = o.target or "10.217.0.2:80", results = o.results or { result("10.217.0.2", "refused",
        "ECONNREFUSED") }, listeners = o.listeners or {},
        local_addrs = { [(o.target or "10.217.0.2:80"):match("^(.*):")] = "veth0" } }
      up.netns = UP_NS
      up.args.netns, up.args.depth = { inode = UP_NS, name = "web" }, 1
      return up
    end
    local function socat(o)
      return tcp { results = { result("127.0.0.1", "open") },
        listeners = { listener("127.0.0.1", 8080, { processes = { { pid = 300, comm = "socat" } } }) },
        hops = { { kind = "forwarder", tool = "socat", pid = 300, upstream = { host = "10.217.0.2", port = 80 },
          netns = { inode = UP_NS, name = "web" }, facts = o and o.facts or upstream_facts {} } } }
    end

    it("upstream-failing: the upstream's own cause, the path, and its fix said for its namespace", function()
      local verdict, f = diagnose(socat())
      assert.equal("upstream-failing", verdict)
      local hop = f["upstream-failing"]
      assert.equal("error", hop.severity)
      assert.matches("127.0.0.1:8080 is accepted by socat (pid 300), which forwards it to 10.217.0.2:80 (netns web), "
        .. "where: nothing listens on port 80", hop.summary, 1, true)
      assert.equal("path: client → 127.0.0.1:8080 (socat, pid 300) → 10.217.0.2:80 (netns web) → no-listener",
        hop.evidence[1])
      assert.matches("^in netns web %(ip netns exec web %.%.%.%): start the service", hop.fix)
      assert.equal("ok", f.reachable.severity) -- the first hop accepts, but is not the verdict
    end)

    it("a hop's facts share the listener dump: saved once, replayed to the same verdict", function()
      local facts = socat()
      facts.hops[1].facts.listeners = facts.listeners
      local saved = investigate.encode(facts)
      assert.matches('"shared":true', saved:gsub("%s", ""), 1, true)
      assert.is_true(facts.hops[1].facts.listeners == facts.listeners) -- encode left the facts alone
      local again = assert(investigate.decode(saved))
      assert.is_true(again.hops[1].facts.listeners == again.listeners)
      assert.equal("upstream-failing", (diagnose(again)))
    end)

    it("an upstream that accepts leaves the verdict reachable", function()
      local up = upstream_facts { results = { result("10.217.0.2", "open") },
        listeners = { listener("0.0.0.0", 80, { netns = UP_NS }) } }
      local verdict, f = diagnose(socat { facts = up })
      assert.equal("reachable", verdict)
      assert.is_nil(f["upstream-failing"])
    end)

    it("two hops deep: the path goes through both, the cause is the last one's", function()
      local deeper = upstream_facts { target = "10.217.1.2:90", results = { result("10.217.1.2", "refused",
        "ECONNREFUSED") } }
      deeper.netns, deeper.args.netns = UP_NS + 1, { inode = UP_NS + 1, name = "db" }
      local middle = upstream_facts { results = { result("10.217.0.2", "open") },
        listeners = { listener("0.0.0.0", 80, { netns = UP_NS, processes = { { pid = 301, comm = "socat" } } }) } }
      middle.hops = { { kind = "forwarder", tool = "socat", pid = 301, upstream = { host = "10.217.1.2", port = 90 },
        netns = { inode = UP_NS + 1, name = "db" }, facts = deeper } }
      local verdict, f = diagnose(socat { facts = middle })
      assert.equal("upstream-failing", verdict)
      assert.equal("path: client → 127.0.0.1:8080 (socat, pid 300) → 10.217.0.2:80 (netns web; socat, pid 301) → "
        .. "10.217.1.2:90 (netns db) → no-listener", f["upstream-failing"].evidence[1])
      assert.matches("^in netns db", f["upstream-failing"].fix)
    end)

    it("follow-depth-limit: the path ends where following stopped, with the hop that would have been next",
      function()
      -- the second endpoint stands at the limit: a socat that accepts and closes (its upstream fails,
      -- unfollowed) and would forward to 10.217.2.2:95
      local last = upstream_facts { target = "10.217.1.2:90", results = { result("10.217.1.2", "open") },
        listeners = { listener("0.0.0.0", 90, { netns = UP_NS + 1, processes = { { pid = 302, comm = "socat" } } }) } }
      last.netns, last.args.netns, last.args.depth = UP_NS + 1, { inode = UP_NS + 1, name = "db" }, 4
      last.after_connect = { addr = "10.217.1.2", state = "closed", banner_end = "closed", settle = 0.25 }
      last.hops = { { kind = "forwarder", tool = "socat", pid = 302, upstream = { host = "10.217.2.2", port = 95 },
        limit = 4 } }
      local middle = upstream_facts { results = { result("10.217.0.2", "open") },
        listeners = { listener("0.0.0.0", 80, { netns = UP_NS, processes = { { pid = 301, comm = "socat" } } }) } }
      middle.hops = { { kind = "forwarder", tool = "socat", pid = 301, upstream = { host = "10.217.1.2", port = 90 },
        netns = { inode = UP_NS + 1, name = "db" }, facts = last } }
      local verdict, f = diagnose(socat { facts = middle })
      assert.equal("upstream-failing", verdict)
      local hop = f["upstream-failing"]
      assert.equal("path: client → 127.0.0.1:8080 (socat, pid 300) → 10.217.0.2:80 (netns web; socat, pid 301) → "
        .. "10.217.1.2:90 (netns db; socat, pid 302) → 10.217.2.2:95 (not followed) → follow-depth-limit",
        hop.evidence[1])
      assert.matches("where: 10.217.1.2:90 is forwarded by socat (pid 302) to 10.217.2.2:95, which is not followed: "
        .. "diagnose follows 4 hops at most; the connection fails past 10.217.1.2:90 (accepted-then-closed)",
        hop.summary, 1, true)
      assert.equal("in netns db (ip netns exec db ...): diagnose the next hop from where socat (pid 302) sends it: "
        .. "connrecipe diagnose 10.217.2.2:95", hop.fix)
      -- the endpoint at the limit alone: the finding, as severe as what it shows of its own
      verdict, f = diagnose(last)
      assert.equal("follow-depth-limit", verdict)
      assert.equal("error", f["follow-depth-limit"].severity)
      assert.equal("next hop: 10.217.2.2:95, by socat, pid 302", f["follow-depth-limit"].evidence[1])
      -- an endpoint at the limit that serves: said, as info; the verdict stays reachable
      last.after_connect = { addr = "10.217.1.2", state = "silent", settle = 0.25 }
      verdict, f = diagnose(last)
      assert.equal("reachable", verdict)
      assert.equal("info", f["follow-depth-limit"].severity)
      assert.is_nil(f["follow-depth-limit"].summary:find("fails", 1, true))
      verdict = diagnose(socat { facts = middle })
      assert.equal("reachable", verdict)
    end)

    it("TLS read at the upstream (the client's https, its name): the certificate's problem is the cause there",
      function()
      local up = upstream_facts { results = { result("10.217.0.2", "open") },
        listeners = { listener("0.0.0.0", 80, { netns = UP_NS }) } }
      up.after_connect = { addr = "10.217.0.2", state = "silent", settle = 0.25 }
      up.args.client = assert(target.parse("https://web.test:8080/"))
      up.tls = { status = "open", handshake = true, version = "TLSv1.3", cipher = "TLS_AES_256_GCM_SHA384",
        subject = "CN=web.test", issuer = "CN=web.test", san = { "DNS:web.test" }, not_before = 1, not_after = 2,
        self_signed = true, verify = "self-signed certificate", verify_code = 18, name_match = true,
        name = "web.test", expected = true, now = 3 }
      local verdict, f = diagnose(socat { facts = up })
      assert.equal("upstream-failing", verdict)
      assert.equal("path: client → 127.0.0.1:8080 (socat, pid 300) → 10.217.0.2:80 (netns web) → tls-cert-expired",
        f["upstream-failing"].evidence[1])
      up.tls.not_after = 4
      verdict, f = diagnose(socat { facts = up })
      assert.equal("upstream-failing", verdict)
      assert.matches("→ tls%-cert%-self%-signed$", f["upstream-failing"].evidence[1])
      assert.matches("where: 10.217.0.2:80: the certificate is self-signed", f["upstream-failing"].summary, 1, true)
      -- a name the certificate lacks: the client may use another name; the certificate is changed at the upstream
      up.tls.self_signed, up.tls.verify, up.tls.verify_code = false, "ok", 0
      up.tls.name_match, up.tls.name = false, "other.test"
      up.listeners.list = { listener("0.0.0.0", 80, { netns = UP_NS, processes = { { pid = 402, comm = "nginx" } } }) }
      verdict, f = diagnose(socat { facts = up })
      assert.equal("upstream-failing", verdict)
      assert.matches("→ tls%-name%-mismatch$", f["upstream-failing"].evidence[1])
      assert.equal("on the client: connect with a name the certificate has; or, in netns web (ip netns exec web ...): "
        .. "give nginx (pid 402) a certificate that includes other.test (SAN)", f["upstream-failing"].fix)
      -- a chain that does not verify: trusting its issuer is the client's, the chain the server's
      up.tls.name_match, up.tls.verify, up.tls.verify_code = true, "unable to get local issuer certificate", 20
      verdict, f = diagnose(socat { facts = up })
      assert.equal("upstream-failing", verdict)
      assert.matches("→ tls%-untrusted$", f["upstream-failing"].evidence[1])
      assert.equal("on the client: trust its issuer (curl --cacert FILE; update-ca-certificates); or, in netns web "
        .. "(ip netns exec web ...): make nginx (pid 402) serve the full chain (the intermediate certificates)",
        f["upstream-failing"].fix)
      up.tls.name_match, up.tls.verify, up.tls.verify_code = false, "ok", 0
      -- not behind a hop: one fix, as before
      up.args.netns, up.netns = nil, NS
      verdict, f = diagnose(up)
      assert.equal("tls-name-mismatch", verdict)
      assert.equal("connect with a name the certificate has, or issue one that includes this name (SAN)",
        f["tls-name-mismatch"].fix)
    end)

    it("forwarding-loop: a forwarder back to an endpoint on the path; never reachable", function()
      local facts = socat()
      facts.hops[1] = { kind = "forwarder", tool = "socat", pid = 300, upstream = { host = "127.0.0.1", port = 8080 },
        netns = { inode = NS }, loop = true }
      local verdict, f = diagnose(facts)
      assert.equal("forwarding-loop", verdict)
      assert.equal("127.0.0.1:8080 is accepted by socat (pid 300), which forwards it back to 127.0.0.1:8080 "
        .. "(same netns), already on its path: the connection goes round in a loop and never reaches a service",
        f["forwarding-loop"].summary)
      assert.equal("path: client → 127.0.0.1:8080 → 127.0.0.1:8080 again", f["forwarding-loop"].evidence[1])
      assert.equal("make socat (pid 300) forward to the service itself, not to 127.0.0.1:8080",
        f["forwarding-loop"].fix)
      -- one hop further: the upstream's loop is the cause at the end of the path
      local middle = upstream_facts { results = { result("10.217.0.2", "open") },
        listeners = { listener("0.0.0.0", 80, { netns = UP_NS, processes = { { pid = 301, comm = "socat" } } }) } }
      middle.args.visited = { NS .. " 127.0.0.1:8080" }
      middle.hops = { { kind = "dnat", chain = "PREROUTING", rule = "-A PREROUTING ... -j DNAT",
        upstream = { host = "127.0.0.1", port = 8080 }, netns = { inode = NS }, loop = true } }
      verdict, f = diagnose(socat { facts = middle })
      assert.equal("upstream-failing", verdict)
      assert.equal("path: client → 127.0.0.1:8080 (socat, pid 300) → 10.217.0.2:80 (netns web) → forwarding-loop",
        f["upstream-failing"].evidence[1])
      assert.matches("correct the DNAT rule in chain PREROUTING: its destination 127.0.0.1:8080 leads back",
        f["upstream-failing"].fix, 1, true)
      assert.is_nil(f["forwarding-loop"]) -- said once, at the end of the path
    end)

    it("a path through another namespace names it at each hop there, not 'same netns'", function()
      local deeper = upstream_facts { target = "127.0.0.1:90", results = { result("127.0.0.1", "refused",
        "ECONNREFUSED") } }
      deeper.args.own_netns = NS
      local middle = upstream_facts { results = { result("10.217.0.2", "open") },
        listeners = { listener("0.0.0.0", 80, { netns = UP_NS, processes = { { pid = 301, comm = "socat" } } }) } }
      middle.args.own_netns = NS
      middle.hops = { { kind = "forwarder", tool = "socat", pid = 301, upstream = { host = "127.0.0.1", port = 90 },
        netns = { inode = UP_NS, name = "web" }, facts = deeper } }
      local _, f = diagnose(socat { facts = middle })
      assert.equal("path: client → 127.0.0.1:8080 (socat, pid 300) → 10.217.0.2:80 (netns web; socat, pid 301) → "
        .. "127.0.0.1:90 (netns web) → no-listener", f["upstream-failing"].evidence[1])
    end)

    it("the upstream app binds loopback: its fix is to listen where the forwarder connects, not 'connect to'",
      function()
      local up = upstream_facts { listeners = { listener("127.0.0.1", 80, { netns = UP_NS,
        processes = { { pid = 400, comm = "httpd" } } }) } }
      up.args.via = { kind = "forwarder", tool = "socat", pid = 300 }
      local verdict, f = diagnose(socat { facts = up })
      assert.equal("upstream-failing", verdict)
      local hop = f["upstream-failing"]
      assert.matches("→ 10.217.0.2:80 (netns web) → address-mismatch", hop.evidence[1], 1, true)
      assert.equal("in netns web (ip netns exec web ...): make httpd (pid 400) listen on 10.217.0.2 (or on every "
        .. "address, 0.0.0.0) instead of 127.0.0.1 only: socat (pid 300) connects to 10.217.0.2:80", hop.fix)
      assert.truthy(text(hop):find("upstream: socat (pid 300) sends the connection to 10.217.0.2:80", 1, true))
      -- in a container: named by the engine's name
      up.args.via = { kind = "dnat", tool = "docker", chain = "DOCKER" }
      local facts = socat { facts = up }
      facts.hops[1].netns = { inode = UP_NS, pid = 401, container = ("c"):rep(64) }
      facts.containers = { list = { { id = ("c"):rep(64), name = "web1", state = "running" } } }
      verdict, f = diagnose(facts)
      assert.equal("upstream-failing", verdict)
      assert.matches("(netns 4026530009, container web1)", f["upstream-failing"].summary, 1, true)
      assert.equal("in container web1: make httpd (pid 400) listen on 10.217.0.2 (or on every address, 0.0.0.0) "
        .. "instead of 127.0.0.1 only: the DNAT rule in chain DOCKER connects to 10.217.0.2:80",
        f["upstream-failing"].fix)
      -- not behind a hop: the client may connect elsewhere
      verdict, f = diagnose(upstream_facts { listeners = { listener("127.0.0.1", 80, { netns = UP_NS }) } })
      assert.equal("address-mismatch", verdict)
      assert.matches("^connect to 127.0.0.1:80", f["address-mismatch"].fix)
    end)

    it("a DNAT hop (kube-proxy's KUBE-SEP chain) with a failing endpoint", function()
      local facts = tcp { target = "10.96.0.10:80", results = { result("10.96.0.10", "refused", "ECONNREFUSED") },
        firewall = { hits = {} },
        hops = { { kind = "dnat", tool = "kube-proxy", chain = "KUBE-SEP-XYZ", rule = "-A KUBE-SEP-XYZ ... -j DNAT",
          upstream = { host = "10.217.0.2", port = 80 }, netns = { inode = UP_NS, name = "web" },
          facts = upstream_facts {} } } }
      local verdict, f = diagnose(facts)
      assert.equal("upstream-failing", verdict)
      assert.matches("10.96.0.10:80 is rewritten by DNAT by kube-proxy, chain KUBE-SEP-XYZ to 10.217.0.2:80",
        f["upstream-failing"].summary, 1, true)
    end)

    it("upstream-not-followed: ssh -L and kubectl port-forward are named, not followed", function()
      local facts = tcp { results = { result("127.0.0.1", "open") },
        listeners = { listener("127.0.0.1", 8080, { processes = { { pid = 300, comm = "kubectl" } } }) },
        hops = { { kind = "forwarder", tool = "kubectl port-forward", pid = 300,
          why = "kubectl forwards it to svc/web in namespace shop through the API server" } } }
      local verdict, f = diagnose(facts)
      assert.equal("reachable", verdict)
      assert.equal("info", f["upstream-not-followed"].severity)
      assert.matches("forwarded by kubectl port-forward, pid 300, not followed further: kubectl forwards it to "
        .. "svc/web", f["upstream-not-followed"].summary, 1, true)
    end)

    it("service-no-endpoints: kube-proxy's reject rule names the Service; the fix never deletes the rule", function()
      local rule = { action = "reject", source = "iptables", family = "ip", table = "filter", chain = "KUBE-SERVICES",
        comment = "shop/web:http has no endpoints", certain = true,
        text = "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"shop/web:http has no endpoints\" "
          .. "-m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable" }
      local facts = tcp { target = "10.96.0.10:80", results = { result("10.96.0.10", "refused", "ECONNREFUSED") },
        firewall = { hits = { rule } } }
      local verdict, f = diagnose(facts)
      assert.equal("service-no-endpoints", verdict)
      assert.matches("kubectl get endpointslices -n shop -l kubernetes.io/service-name=web",
        f["service-no-endpoints"].fix, 1, true)
      assert.matches("^kube%-proxy owns this rule", f["firewall-reject"].fix)
      assert.not_matches("iptables", f["firewall-reject"].fix)
      -- the DROP for a Service with no local endpoints
      rule.action, rule.comment = "drop", "shop/web:http has no local endpoints"
      verdict, f = diagnose(facts)
      assert.equal("service-no-endpoints", verdict)
      assert.matches("dropped by kube-proxy: Service shop/web:http has no local endpoints",
        f["service-no-endpoints"].summary, 1, true)
    end)

    it("a rule in docker's chains: the fix names docker", function()
      local facts = tcp { target = "127.0.0.1:8080", listeners = { listener("127.0.0.1", 8080) },
        firewall = { hits = { { action = "reject", source = "iptables", family = "ip", table = "filter",
          chain = "DOCKER-USER", certain = true, text = "-A DOCKER-USER -p tcp --dport 8080 -j REJECT" } } } }
      local _, f = diagnose(facts)
      assert.matches("^docker owns this rule", f["firewall-reject"].fix)
    end)
  end)

  describe("application (after the connect)", function()
    -- facts of 127.0.0.1:PORT accepted by nginx, then what the server did
    local function after(conv, target_text)
      conv.addr, conv.settle = conv.addr or "127.0.0.1", conv.settle or 0.25
      local t = assert(target.parse(target_text or "127.0.0.1:8080"))
      return tcp { target = target_text, results = { result("127.0.0.1", "open") },
                   listeners = { listener("127.0.0.1", t.port) }, after_connect = conv }
    end

    it("accepted-then-closed and -reset are the verdict, never reachable, and name the holder", function()
      local verdict, f = diagnose(after { state = "closed", banner_end = "closed" })
      assert.equal("accepted-then-closed", verdict)
      assert.is_nil(f.reachable)
      assert.matches("nginx (pid 200)", text(f["accepted-then-closed"]), 1, true)
      verdict, f = diagnose(after { state = "reset", read_errno = "ECONNRESET" })
      assert.equal("accepted-then-reset", verdict)
      assert.matches("ECONNRESET", text(f["accepted-then-reset"]), 1, true)
    end)

    it("closed without a word when it got the request", function()
      local verdict, f = diagnose(after({ state = "silent", protocol = "http", sent = "HEAD / HTTP/1.1",
                                          reply_end = "closed" }, "http://127.0.0.1:8080/"))
      assert.equal("accepted-then-closed", verdict)
      assert.matches("when it got the request (HEAD / HTTP/1.1)", f["accepted-then-closed"].summary, 1, true)
    end)

    it("application-refused quotes redis's protected-mode words and says how to fix it", function()
      local words = '"-DENIED Redis is running in protected mode because protected mode is enabled"'
      local verdict, f = diagnose(after({ state = "spoke", protocol = "redis", said = words,
                                          answer = { outcome = "refused", reason = "protected-mode", words = words } },
                                        "10.0.0.5:6379"))
      assert.equal("application-refused", verdict)
      assert.is_nil(f.reachable)
      assert.matches(words, f["application-refused"].summary, 1, true)
      assert.matches("requirepass", f["application-refused"].fix, 1, true)
    end)

    it("application-refused for pg_hba names pg_hba.conf and the reload", function()
      local words = '"FATAL: no pg_hba.conf entry for host \\"10.0.0.1\\", user \\"connrecipe\\""'
      local verdict, f = diagnose(after({ state = "silent", protocol = "postgres", sent = "a startup message",
        said = "...", answer = { outcome = "refused", reason = "host-not-allowed", words = words, detail = "28000" } },
        "127.0.0.1:5432"))
      assert.equal("application-refused", verdict)
      assert.matches("pg_hba.conf line", f["application-refused"].fix, 1, true)
    end)

    it("protocol-mismatch names what answered, and https:// for TLS records back to HTTP", function()
      local verdict, f = diagnose(after({ state = "silent", protocol = "http", sent = "HEAD / HTTP/1.1",
                                          said = '"\\x15\\x03\\x01\\x00\\x02\\x02\\x16"', looks_like = "tls",
                                          reply_end = "closed" }, "http://127.0.0.1:8443/"))
      assert.equal("protocol-mismatch", verdict)
      assert.matches("answers like tls", f["protocol-mismatch"].summary, 1, true)
      assert.matches("https://", f["protocol-mismatch"].fix, 1, true)
    end)

    it("an HTTP 502 is an application-error pointing at the upstream", function()
      local verdict, f = diagnose(after({ state = "silent", protocol = "http", sent = "HEAD / HTTP/1.1",
        said = '"HTTP/1.1 502 Bad Gateway"', answer = { outcome = "error", reason = "server-error",
        words = '"HTTP/1.1 502 Bad Gateway"', detail = 502 } }, "http://127.0.0.1:8080/"))
      assert.equal("application-error", verdict)
      assert.matches("upstream", f["application-error"].fix)
    end)

    it("a server that answers, or waits when no protocol is known, is reachable with what it did", function()
      local verdict, f = diagnose(after({ state = "silent", protocol = "redis", sent = "PING", said = '"+PONG\\r\\n"',
        answer = { outcome = "ok", words = '"+PONG"' } }, "127.0.0.1:6379"))
      assert.equal("reachable", verdict)
      assert.matches('it answered PING: "+PONG"', table.concat(f.reachable.evidence, "\n"), 1, true)
      verdict, f = diagnose(after { state = "silent" })
      assert.equal("reachable", verdict)
      assert.matches("waited for the client", text(f.reachable), 1, true)
      verdict, f = diagnose(after({ state = "silent", protocol = "redis", sent = "PING", said = '"-NOAUTH x"',
        answer = { outcome = "auth", reason = "auth-required", words = '"-NOAUTH x"' } }, "127.0.0.1:6379"))
      assert.equal("reachable", verdict)
      assert.equal("info", f["auth-required"].severity)
    end)

    it("no-answer: a warning beside reachable when the request gets nothing in time", function()
      local verdict, f = diagnose(after({ state = "silent", protocol = "http", sent = "HEAD / HTTP/1.1",
                                          reply_end = "timeout" }, "http://127.0.0.1:8080/"))
      assert.equal("reachable", verdict)
      assert.equal("warn", f["no-answer"].severity)
    end)
  end)

  describe("tls", function()
    local NOW = 1800000000
    local function cert(o)
      local t = { status = "open", handshake = true, version = "TLSv1.3", cipher = "TLS_AES_256_GCM_SHA384",
                  subject = "CN=web.test", issuer = "CN=Test CA", san = { "DNS:web.test", "IP:127.0.0.1" },
                  not_before = NOW - 86400, not_after = NOW + 86400 * 30, self_signed = false, verify = "ok",
                  verify_code = 0, name_match = true, name = "127.0.0.1", expected = true, now = NOW }
      for k, v in pairs(o or {}) do
        t[k] = v
      end
      return t
    end
    local function with_tls(tls, target_text, conv)
      local t = assert(target.parse(target_text or "https://127.0.0.1:8443/"))
      return tcp { target = target_text or "https://127.0.0.1:8443/", results = { result("127.0.0.1", "open") },
                   listeners = { listener("127.0.0.1", t.port) }, tls = tls,
                   after_connect = conv or { addr = "127.0.0.1", state = "silent", settle = 0.25 } }
    end

    it("a certificate that verifies is reachable, with the TLS facts as evidence", function()
      local verdict, f = diagnose(with_tls(cert()))
      assert.equal("reachable", verdict)
      assert.matches("TLS: TLSv1.3, TLS_AES_256_GCM_SHA384; certificate CN=web.test", text(f.reachable), 1, true)
    end)

    it("expired, name mismatch, self-signed and untrusted certificates; never reachable", function()
      local verdict, f = diagnose(with_tls(cert { not_after = NOW - 86400, verify = "certificate has expired",
                                                  verify_code = 10 }))
      assert.equal("tls-cert-expired", verdict)
      assert.is_nil(f.reachable)
      assert.is_nil(f["tls-untrusted"]) -- the expiry is the chain's error: said once
      assert.matches("expired on 2027-01-14", f["tls-cert-expired"].summary, 1, true)
      verdict, f = diagnose(with_tls(cert { name_match = false, name = "localhost" }))
      assert.equal("tls-name-mismatch", verdict)
      assert.matches("not for localhost (it names DNS:web.test, IP:127.0.0.1)", f["tls-name-mismatch"].summary, 1, true)
      verdict, f = diagnose(with_tls(cert { self_signed = true, verify = "self-signed certificate", verify_code = 18 }))
      assert.equal("tls-cert-self-signed", verdict)
      assert.matches("--cacert", f["tls-cert-self-signed"].fix, 1, true)
      verdict = diagnose(with_tls(cert { verify = "unable to get local issuer certificate", verify_code = 20 }))
      assert.equal("tls-untrusted", verdict)
    end)

    it("tls-not-spoken: TLS to a plain port quotes what it answered", function()
      local verdict, f = diagnose(with_tls { status = "open", handshake = false, error = "wrong version number",
        received = '"HTTP/1.1 400 Bad Request\\r\\n..."', received_line = '"HTTP/1.1 400 Bad Request"',
        looks_like = "http", expected = true, now = NOW })
      assert.equal("tls-not-spoken", verdict)
      assert.matches('(wrong version number): it answered in plain text (http): "HTTP/1.1 400 Bad Request"',
        f["tls-not-spoken"].summary, 1, true)
      verdict = diagnose(with_tls { status = "open", handshake = false, expected = true, now = NOW,
                                    error = "sslv3 alert handshake failure" })
      assert.equal("tls-handshake-failed", verdict)
    end)

    it("tls-expected: plain HTTP to a TLS port; https:// as the fix", function()
      local conv = { addr = "127.0.0.1", state = "silent", settle = 0.25, protocol = "http", sent = "HEAD / HTTP/1.1",
                     said = '"HTTP/1.1 400 Bad Request\\r\\n"', answer = { outcome = "ok", detail = 400,
                     words = '"HTTP/1.1 400 Bad Request"' } }
      local verdict, f = diagnose(with_tls(cert { expected = false, self_signed = true }, "http://127.0.0.1:8443/",
        conv))
      assert.equal("tls-expected", verdict)
      assert.is_nil(f.reachable)
      assert.matches("https://127.0.0.1:8443/", f["tls-expected"].fix, 1, true)
      assert.is_nil(f["tls-cert-self-signed"]) -- the client does not speak TLS yet: its certificate is not the question
    end)

    it("a handshake that could not be tried says nothing", function()
      assert.equal("reachable", (diagnose(with_tls { expected = true, read_error = "cr.probe.tls: bad name" })))
    end)
  end)

  describe("protocol speakers", function()
    local protocols = require "connrecipe.protocols"
    local quote = require("connrecipe.quote").quote

    it("the target implies the protocol: its scheme, else its port", function()
      assert.equal("redis", protocols.for_target(assert(target.parse("127.0.0.1:6379"))).name)
      assert.equal("http", protocols.for_target(assert(target.parse("http://127.0.0.1:6379/"))).name)
      assert.equal("postgres", protocols.for_target(assert(target.parse("postgresql://db.test"))).name)
      assert.is_nil(protocols.for_target(assert(target.parse("https://127.0.0.1:8080/"))))
      assert.is_nil(protocols.for_target(assert(target.parse("127.0.0.1:9999"))))
    end)

    it("redis: PONG, DENIED, NOAUTH, max clients; not redis", function()
      local redis = protocols.get("redis")
      assert.equal("ok", redis.read("+PONG\r\n").outcome)
      assert.equal("protected-mode", redis.read("-DENIED Redis is running in protected mode\r\n").reason)
      assert.equal("auth", redis.read("-NOAUTH Authentication required.\r\n").outcome)
      assert.equal("too-many-clients", redis.read("-ERR max number of clients reached\r\n").reason)
      assert.is_nil(redis.read("HTTP/1.1 400 Bad Request\r\n"))
    end)

    it("postgres: the startup message, and its E errors by SQLSTATE", function()
      local pg = protocols.get("postgres")
      local req = pg.request()
      assert.equal(#req, string.unpack(">i4", req))
      assert.equal(196608, string.unpack(">i4", req, 5))
      local function err(code, msg)
        local body = "SFATAL\0C" .. code .. "\0M" .. msg .. "\0\0"
        return "E" .. string.pack(">i4", #body + 4) .. body
      end
      local a = pg.read(err("28000", 'no pg_hba.conf entry for host "10.0.0.1"'))
      assert.same({ "refused", "host-not-allowed" }, { a.outcome, a.reason })
      assert.equal('FATAL: no pg_hba.conf entry for host "10.0.0.1"', a.words)
      assert.equal("too-many-clients", pg.read(err("53300", "sorry, too many clients already")).reason)
      assert.equal("auth", pg.read(err("28000", 'role "connrecipe" does not exist')).outcome)
      assert.equal("auth", pg.read("R\0\0\0\8\0\0\0\5").outcome)
      assert.is_nil(pg.read("+PONG\r\n"))
    end)

    it("mysql: a greeting, or an error packet (host not allowed, too many connections)", function()
      local my = protocols.get("mysql")
      local function packet(payload)
        return string.pack("<I3B", #payload, 0) .. payload
      end
      local greeting = my.read(packet("\10" .. "10.11.6-MariaDB\0" .. ("x"):rep(40)))
      assert.same({ "ok", "10.11.6-MariaDB" }, { greeting.outcome, greeting.detail })
      local denied = my.read(packet("\255" .. string.pack("<I2", 1130)
        .. "Host '10.0.0.1' is not allowed to connect to this MariaDB server"))
      assert.same({ "refused", "host-not-allowed" }, { denied.outcome, denied.reason })
      assert.matches("^ERROR 1130: Host '10.0.0.1'", denied.words)
      local full = my.read(packet("\255" .. string.pack("<I2", 1040) .. "Too many connections"))
      assert.equal("too-many-clients", full.reason)
    end)

    it("http: the status line; identify tells TLS, SSH and HTTP apart", function()
      local http = protocols.get("http")
      local req = http.request(assert(target.parse("http://127.0.0.1:8080/x")))
      assert.matches("^HEAD /x HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n", req)
      local answer = http.read("HTTP/1.1 404 Not Found\r\n")
      assert.same({ "ok", 404 }, { answer.outcome, answer.detail })
      assert.equal("error", http.read("HTTP/1.0 502 Bad Gateway\r\n").outcome)
      assert.equal("tls", protocols.identify("\21\3\1\0\2\2\22"))
      assert.equal("ssh", protocols.identify("SSH-2.0-OpenSSH_9.2\r\n"))
      assert.equal("http", protocols.identify("HTTP/1.1 400 Bad Request\r\n"))
    end)

    it("quote escapes every byte outside printable ASCII and bounds the text", function()
      assert.equal('"a\\"b\\\\c\\r\\n\\x00\\x1b[31m\\xff"', quote("a\"b\\c\r\n\0\27[31m\255"))
      assert.equal('"xxx"...', quote("xxxxx", 3))
    end)
  end)

  describe("saved runs", function()
    local dir = source .. "/tests/fixtures/facts/"
    local files = {}
    for name in io.popen("ls " .. dir):lines() do
      files[#files + 1] = name
    end

    it("are all replayed", function()
      assert.is_true(#files >= 4)
    end)

    for _, name in ipairs(files) do
      it(name .. " replays its verdict", function()
        local facts = assert(investigate.decode(read(dir .. name)))
        assert.equal(name:gsub("%.json$", ""), (diagnose(facts)))
      end)
    end

    it("survive a round trip through the JSON they are saved as", function()
      local facts = tcp { listeners = { listener("127.0.0.1", 8081) }, udp = { list = {} },
                          port_settings = { ["200"] = { "cmdline: --port 8081" } } }
      local again = assert(investigate.decode(investigate.encode(facts)))
      local _, want = diagnose(facts)
      local _, got = diagnose(again)
      assert.same(want, got)
    end)

    it("a document that is not facts is refused with the reason", function()
      assert.matches("not JSON", select(2, investigate.decode("{")))
      assert.matches("schema", select(2, investigate.decode('{"schema":9}')))
      assert.matches("no target", select(2, investigate.decode('{"schema":1}')))
    end)
  end)

  describe("the scan for the runtimes' monitors", function()
    local A, B = ("a"):rep(64), ("b"):rep(64)
    local function wanted(listeners, list)
      return investigate._monitors_wanted({ listeners = listeners }, { list = list })
    end

    it("is skipped when no container is named, or only ones the usual sources settled", function()
      assert.is_false(wanted({ list = {}, info = { namespaces = { { inode = 1, via = "self" } } } }, {}))
      assert.is_false(wanted({ list = { { port = 80, container = A, processes = { { pid = 2, container = A } } } },
        info = { namespaces = { { inode = 2, container = A } } } }, { { id = A, state = "exited" } }))
      assert.is_false(wanted({ error = "not read" }, {}))
    end)

    it("runs for a container the usual sources did not list, wherever it is named", function()
      assert.is_true(wanted({ list = {}, info = { namespaces = { { inode = 2, container = B } } } },
        { { id = A, state = "running" } }))
      assert.is_true(wanted({ list = { { port = 47, container = B } }, info = {} }, {}))
      assert.is_true(wanted({ list = { { port = 47, processes = { { pid = 3, container = B } } } } }, {}))
    end)

    it("runs for a podman container whose state only its conmon tells", function()
      assert.is_true(wanted({ list = {}, info = { namespaces = { { inode = 2, container = A } } } },
        { { id = A, state = "unknown" } }))
    end)
  end)
end)
