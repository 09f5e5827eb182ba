-- cr.sys: interfaces, kernel settings and counters, security context —
-- checked inside private network namespaces the tests set up.
local cr = require "connrecipe"
local testenv = require "testenv"
local json = require "connrecipe.json"

local function lua_in(ns, code)
  return json.decode(testenv.cr_ok(ns, code))
end

local sh_in = testenv.sh_in

local function by_name(list)
  local t = {}
  for _, i in ipairs(list) do
    t[i.name] = i
  end
  return t
end

local function skip_unless_root()
  if testenv.needs_root() then
    pending(testenv.needs_root())
    return true
  end
end

local INTERFACES = 'print(require("connrecipe.json").encode(cr.sys.interfaces()))'

describe("cr.sys.interfaces", function()
  it("lists lo with its addresses in this namespace", function()
    local list = assert(cr.sys.interfaces())
    local lo = by_name(list).lo
    assert.is_table(lo)
    assert.is_true(lo.loopback)
    assert.is_true(lo.index > 0)
  end)

  it("sees lo go down and up, and an extra interface with an address", function()
    if skip_unless_root() then
      return
    end
    local ns = testenv.netns()
    -- a dummy interface when the kernel has the driver, else one end of a veth pair
    local kind = "dummy"
    if testenv.sh(testenv.in_netns(ns, "ip link add x0 type dummy")).code ~= 0 then
      kind = "veth"
      sh_in(ns, "ip link add x0 type veth peer name x1")
    end
    sh_in(ns, "ip addr add 10.77.0.1/24 dev x0")
    sh_in(ns, "ip addr add fd77::1/64 dev x0 nodad")
    sh_in(ns, "ip link set x0 up")

    local ifs = by_name(lua_in(ns, INTERFACES))
    assert.is_true(ifs.lo.up)
    assert.is_true(ifs.lo.loopback)
    local addrs = {}
    for _, a in ipairs(ifs.x0.addrs) do
      addrs[a.addr] = a
    end
    assert.same({ addr = "10.77.0.1", family = "inet", prefix = 24 }, addrs["10.77.0.1"])
    assert.equal("inet6", addrs["fd77::1"].family)
    assert.equal(64, addrs["fd77::1"].prefix)
    assert.is_true(ifs.x0.up, kind)
    assert.is_false(ifs.x0.loopback)

    sh_in(ns, "ip link set lo down")
    ifs = by_name(lua_in(ns, INTERFACES))
    assert.is_false(ifs.lo.up)
    assert.is_false(ifs.lo.running)
    sh_in(ns, "ip link set lo up")
    ifs = by_name(lua_in(ns, INTERFACES))
    assert.is_true(ifs.lo.up)

    -- the same view from outside, through ip -j in the namespace
    local outside = by_name(cr.run(cr.sys.interfaces, ns))
    assert.is_true(outside.lo.up)
    assert.equal(ifs.x0.index, outside.x0.index)
    assert.equal("10.77.0.1", outside.x0.addrs[1].addr)
    assert.equal(24, outside.x0.addrs[1].prefix)

    -- and by the pid of a process inside it
    local dir = testenv.tmpdir()
    sh_in(ns, "sh -c 'sleep 30 >/dev/null 2>&1 & echo $! > " .. dir .. "/pid'")
    local pid = tonumber(testenv.read_file(dir .. "/pid"):match("%d+"))
    local by_pid = by_name(cr.run(cr.sys.interfaces, pid))
    os.execute("kill " .. pid)
    assert.equal(ifs.x0.index, by_pid.x0.index)
    assert.is_nil(by_name(cr.sys.interfaces()).x0) -- not in ours
  end)

  it("says each device's kind and master (rtnetlink), in this namespace and through ip -j -d in another", function()
    if skip_unless_root() then
      return
    end
    local ns = testenv.netns()
    sh_in(ns, "ip link add crbr0 type bridge")
    sh_in(ns, "ip link add crv0 type veth peer name crv1")
    sh_in(ns, "ip link set crv0 master crbr0")
    for _, ifs in ipairs({ by_name(lua_in(ns, INTERFACES)), by_name(cr.run(cr.sys.interfaces, ns)) }) do
      assert.equal("bridge", ifs.crbr0.kind)
      assert.equal("veth", ifs.crv0.kind)
      assert.equal("crbr0", ifs.crv0.master)
      assert.is_nil(ifs.crv1.master)
      assert.is_nil(ifs.lo.kind)
      assert.is_nil(ifs.crbr0.vrf_table) -- a VRF's only
    end
    -- a VRF, where the kernel can make one: its routing table
    if testenv.sh(testenv.in_netns(ns, "ip link add crvrf type vrf table 10")).code == 0 then
      sh_in(ns, "ip link set crv1 master crvrf")
      for _, ifs in ipairs({ by_name(lua_in(ns, INTERFACES)), by_name(cr.run(cr.sys.interfaces, ns)) }) do
        assert.equal("vrf", ifs.crvrf.kind)
        assert.equal(10, ifs.crvrf.vrf_table)
        assert.equal("crvrf", ifs.crv1.master)
      end
    end
    -- no VRF here: new sockets come bound to no device
    assert.is_false(cr.sys.socket_device())
  end)
end)

describe("cr.sys.sysctl", function()
  it("reads numbers and strings, and says when a setting is absent", function()
    local want = tonumber(testenv.read_file("/proc/sys/net/core/somaxconn"))
    assert.equal(want, cr.sys.sysctl("net.core.somaxconn"))
    assert.equal(want, cr.sys.somaxconn())
    assert.equal(want, cr.sys.sysctl("net/core/somaxconn"))
    assert.matches("^%d+ %d+$", cr.sys.sysctl("net.ipv4.ip_local_port_range"))
    local v, err = cr.sys.sysctl("net.ipv4.no_such_setting")
    assert.is_nil(v)
    assert.matches("not on this system", err)
    assert.has_error(function()
      cr.sys.sysctl(42)
    end)
    assert.has_error(function()
      cr.sys.sysctl("net..core")
    end)
  end)

  it("computes the usable ephemeral ports in a namespace", function()
    if skip_unless_root() then
      return
    end
    local ns = testenv.netns()
    sh_in(ns, "sysctl -qw net.ipv4.ip_local_port_range='40000 40999'")
    sh_in(ns, "sysctl -qw net.ipv4.ip_local_reserved_ports=40010-40019,40500,50000")
    local r = lua_in(ns, 'print(require("connrecipe.json").encode(cr.sys.port_range()))')
    assert.equal(40000, r.first)
    assert.equal(40999, r.last)
    assert.same({ { 40010, 40019 }, { 40500, 40500 }, { 50000, 50000 } }, r.reserved)
    assert.equal(1000 - 11, r.available)
  end)

  it("knows when IPv6 is switched off", function()
    if skip_unless_root() then
      return
    end
    assert.is_boolean((cr.sys.ipv6_enabled()))
    local ns = testenv.netns()
    local r = lua_in(ns, 'print(require("connrecipe.json").encode({cr.sys.ipv6_enabled()}))')
    assert.same({ true }, r)
    sh_in(ns, "sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
    r = lua_in(ns, 'print(require("connrecipe.json").encode({cr.sys.ipv6_enabled()}))')
    assert.is_false(r[1])
    assert.matches("disable_ipv6", r[2])
  end)
end)

describe("cr.sys.counters", function()
  it("has the TcpExt, Tcp and Udp groups", function()
    local c = assert(cr.sys.counters())
    assert.is_number(c.TcpExt.ListenOverflows)
    assert.is_number(c.TcpExt.ListenDrops)
    assert.is_number(c.Tcp.ActiveOpens)
    assert.is_number(c.Udp.InDatagrams)
    assert.is_number(c.Tcp.MaxConn) -- -1, a signed value
  end)

  it("counts a listen backlog overflow in a namespace, by name and by pid", function()
    if skip_unless_root() or not testenv.have("python3") then
      return pending("needs root and python3")
    end
    local ns = testenv.netns()
    local before = cr.run(cr.sys.counters, ns)
    -- a listener with backlog 1 that never accepts, and 8 clients
    local script = [[
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 5600)); s.listen(1)
cs = []
for i in range(8):
    c = socket.socket(); c.setblocking(False)
    try: c.connect(("127.0.0.1", 5600))
    except BlockingIOError: pass
    cs.append(c)
print("ready", flush=True)
time.sleep(30)
]]
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/overflow.py", script)
    local pidfile = dir .. "/pid"
    local start = ("sh -c 'python3 %s/overflow.py > %s/out & echo $! > %s'"):format(dir, dir, pidfile)
    sh_in(ns, start)
    local pid
    for _ = 1, 100 do -- at most 10 s
      if (testenv.read_file(dir .. "/out") or ""):find("ready") then
        pid = testenv.read_file(pidfile):match("%d+")
        break
      end
      os.execute("sleep 0.1")
    end
    assert.is_not_nil(pid, "the overflow script did not start")
    os.execute("sleep 1") -- let SYN retries arrive at the full queue
    local after = cr.run(cr.sys.counters, ns)
    assert.is_true(after.TcpExt.ListenOverflows > before.TcpExt.ListenOverflows,
      ("ListenOverflows %d -> %d"):format(before.TcpExt.ListenOverflows, after.TcpExt.ListenOverflows))
    -- by pid: /proc/PID/net of a process inside the namespace
    local by_pid = assert(cr.sys.counters(tonumber(pid)))
    assert.is_true(by_pid.TcpExt.ListenOverflows >= after.TcpExt.ListenOverflows)
    -- this namespace's own counters did not move with it
    os.execute("kill " .. pid)
  end)

  it("gives nil, reason for a namespace or process that does not exist", function()
    local c, err = cr.run(cr.sys.counters, "no-such-ns-xyz")
    assert.is_nil(c)
    assert.matches("not found", err)
    c, err = cr.sys.counters(999999999)
    assert.is_nil(c)
    assert.matches("not found", err)
  end)
end)

describe("cr.sys.security", function()
  it("reports who we are and what restricts us", function()
    local s = cr.sys.security()
    assert.is_true(s.selinux == "enforcing" or s.selinux == "permissive" or s.selinux == "disabled")
    assert.is_boolean(s.apparmor)
    assert.is_boolean(s.proc_restricted)
    assert.equal(testenv.is_root(), s.root)
    assert.is_boolean(s.cap_net_admin)
    if s.root then
      assert.is_true(s.cap_net_admin)
    end
    assert.is_true(s.container == false or type(s.container) == "string")
    assert.is_true(s.wsl == false or s.wsl == 1 or s.wsl == 2)
  end)

  it("sees a /proc mounted with hidepid= or subset=pid", function()
    if skip_unless_root() or not testenv.have("unshare") then
      return pending("needs root and unshare")
    end
    local code = "local s = cr.sys.security() print(s.proc_restricted, s.hidepid, s.proc_subset)"
    -- kernels since 5.8 print hidepid=2 as hidepid=invisible
    local cases = { ["hidepid=2"] = "^true\t[2invisble]+\tnil\n$", ["subset=pid"] = "^true\tnil\tpid\n$" }
    for option, want in pairs(cases) do
      -- a private /proc instance in new mount and pid namespaces: the host's is untouched
      local r = testenv.sh("unshare -m -p -f --mount-proc sh -c " .. testenv.quote("mount -o remount," .. option
        .. " /proc && " .. testenv.quote(testenv.bin) .. " -e " .. testenv.quote(code)))
      assert.equal(0, r.code, r.stderr)
      assert.matches(want, r.stdout, nil, nil, option)
    end
    local plain = "unshare -m -p -f --mount-proc " .. testenv.quote(testenv.bin) .. " -e " .. testenv.quote(code)
    local r = testenv.sh(plain)
    assert.equal("false\tnil\tnil\n", r.stdout)
  end)

  it("sees a dropped CAP_NET_ADMIN and a non-root uid", function()
    if skip_unless_root() or not testenv.have("setpriv") then
      return pending("needs root and setpriv")
    end
    local r = testenv.sh("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
      .. testenv.quote(testenv.bin) .. " -e 'local s = cr.sys.security() print(s.root, s.euid, s.cap_net_admin)'")
    assert.equal(0, r.code, r.stderr)
    assert.equal("false\t65534\tfalse\n", r.stdout)
  end)
end)

teardown(function()
  testenv.cleanup()
end)
