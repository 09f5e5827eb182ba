-- cr.sockets, cr.listeners, cr.process.* and the listeners/whoowns recipes
-- against real listeners, checked against `ss` on the same machine state.
local cr = require "connrecipe"
local testenv = require "testenv"
local json = require "connrecipe.json"

local sh, background = testenv.sh, testenv.background

-- Waits (bounded) until `ss` in ns (or the host) shows a listener on p.
local function wait_listening(args, needle, ns)
  assert(testenv.wait_ss(ns, args, needle), "listener " .. needle .. " never appeared")
end

-- ss -tulnpH / ss -xlpH -> {["proto|addr|port"] = {pid = true, ...}} for listeners
local function ss_listeners(prefix)
  prefix = prefix or ""
  local out = {}
  for line in sh(prefix .. "ss -tulnpH").stdout:gmatch("[^\n]+") do
    local proto, st, localaddr, rest = line:match("^(%S+)%s+(%S+)%s+%S+%s+%S+%s+(%S+)%s+%S+%s*(.*)$")
    if proto and ((proto == "tcp" and st == "LISTEN") or (proto == "udp" and st == "UNCONN")) then
      local addr, p = localaddr:match("^(.*):(%d+)$")
      addr = addr:gsub("%%.*$", ""):gsub("^%[(.*)%]$", "%1")
      local pids = {}
      for pid in rest:gmatch("pid=(%d+)") do
        pids[tonumber(pid)] = true
      end
      out[proto .. "|" .. addr .. "|" .. p] = pids
    end
  end
  for line in sh(prefix .. "ss -xlpH").stdout:gmatch("[^\n]+") do
    local st, inode, rest = line:match("^%S+%s+(%S+)%s+%S+%s+%S+%s+%S+%s+(%d+)%s+%S+%s+%S+%s*(.*)$")
    if st == "LISTEN" then
      local pids = {}
      for pid in rest:gmatch("pid=(%d+)") do
        pids[tonumber(pid)] = true
      end
      out["unix|" .. inode] = pids
    end
  end
  return out
end

-- listeners.lua --json entries -> the same keys (dual-stack [::] shows as * in ss)
local function our_key(s)
  if s.proto == "unix" then
    return "unix|" .. s.inode
  end
  local addr = s.addr
  if s.family == "inet6" and addr == "::" and s.v6only == false then
    addr = "*"
  end
  return s.proto .. "|" .. addr .. "|" .. s.port
end

local function our_listeners(args)
  local r = testenv.run(args)
  assert.equal(0, r.code, r.stderr)
  local doc = assert(json.decode(r.stdout))
  assert.equal("listeners", doc.recipe)
  return doc
end

local function pidset(s)
  local t = {}
  for _, p in ipairs(s.processes) do
    t[p.pid] = true
  end
  return t
end

local function same_set(a, b)
  for k in pairs(a) do
    if not b[k] then
      return false
    end
  end
  for k in pairs(b) do
    if not a[k] then
      return false
    end
  end
  return true
end

describe("listeners against ss", function()
  local ports, sockpath, ns, shared_pids, ns_pid
  -- gate.why: why these tests cannot run here (not root, socat missing), or nil
  local gate = testenv.setup_gate(function(why)
    pending(why)
  end)

  setup(function()
    gate.why = testenv.needs_root() or (not testenv.have("socat") and "needs socat") or nil
    if gate.why then
      return
    end
    -- ports no namespace listens on, reserved from other runs (diagnose's
    -- other-netns would see these listeners)
    local base = testenv.port_block()
    ports = { v4 = base + 1, v6 = base + 2, dual = base + 3, v6only = base + 4, udp = base + 5, shared = base + 6,
      ns = base + 7 }
    local dir = testenv.tmpdir()
    sockpath = dir .. "/app.sock"
    background(("socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork /dev/null"):format(ports.v4))
    background(("socat TCP6-LISTEN:%d,bind=[::1],reuseaddr,fork /dev/null"):format(ports.v6))
    background(("socat TCP6-LISTEN:%d,ipv6only=0,reuseaddr,fork /dev/null"):format(ports.dual))
    background(("socat TCP6-LISTEN:%d,ipv6only=1,reuseaddr,fork /dev/null"):format(ports.v6only))
    background(("socat -u UDP4-RECV:%d,bind=127.0.0.1 /dev/null"):format(ports.udp))
    background(("socat UNIX-LISTEN:%s,fork /dev/null"):format(sockpath))
    -- one listening socket held by a parent and two forked children
    local py = ([[
import os, socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", %d)); s.listen(8)
main = os.getpid()
for _ in range(2):
    if os.getpid() == main:
        os.fork()
deadline = time.time() + 60
while time.time() < deadline:  # children leave with their parent
    if os.getpid() != main and os.getppid() != main:
        break
    time.sleep(0.1)
]]):format(ports.shared)
    local pyfile = dir .. "/shared.py"
    testenv.write_file(pyfile, py)
    background("exec python3 " .. pyfile)
    ns = testenv.netns()
    ns_pid = background(testenv.in_netns(ns, ("socat TCP4-LISTEN:%d,bind=127.0.0.1,fork /dev/null"):format(ports.ns)))
    wait_listening("-tln", "127.0.0.1:" .. ports.v4)
    wait_listening("-tln", "[::1]:" .. ports.v6)
    wait_listening("-tln", "*:" .. ports.dual)
    wait_listening("-tln", "[::]:" .. ports.v6only)
    wait_listening("-uln", "127.0.0.1:" .. ports.udp)
    wait_listening("-xl", sockpath)
    wait_listening("-tln", "127.0.0.1:" .. ports.ns, ns)
    -- the shared socket: three holders
    for _ = 1, 100 do
      local p = ss_listeners()["tcp|127.0.0.1|" .. ports.shared]
      local n = 0
      for _ in pairs(p or {}) do
        n = n + 1
      end
      if n == 3 then
        shared_pids = p
        break
      end
      os.execute("sleep 0.05")
    end
  end)

  teardown(testenv.cleanup)

  it("reports every listener ss reports, with the same owners, and nothing extra", function()
    gate.check()
    local before = ss_listeners()
    local doc = our_listeners({ "listeners.lua", "--json" })
    local after = ss_listeners()
    local ours = {}
    for _, s in ipairs(doc.sockets) do
      ours[our_key(s)] = s
    end
    -- other developers' tests come and go: judge what both ss runs agree on
    for key, pids in pairs(before) do
      if after[key] and same_set(pids, after[key]) then
        assert.is_not_nil(ours[key], "missing listener " .. key)
        assert.is_true(same_set(pids, pidset(ours[key])), "different owners for " .. key)
      end
    end
    for key in pairs(ours) do
      assert.is_true(before[key] ~= nil or after[key] ~= nil, "listener not in ss: " .. key)
    end
    -- ours, explicitly
    local function entry(key)
      return assert(ours[key], "missing " .. key)
    end
    assert.equal(false, entry("tcp|*|" .. ports.dual).v6only)
    assert.equal(true, entry("tcp|::|" .. ports.v6only).v6only)
    assert.equal(true, entry("tcp|::1|" .. ports.v6).v6only ~= nil)
    assert.equal("inet", entry("tcp|127.0.0.1|" .. ports.v4).family)
    assert.equal("udp", entry("udp|127.0.0.1|" .. ports.udp).proto)
    assert.is_not_nil(shared_pids, "the forked listener never had three holders")
    assert.is_true(same_set(shared_pids, pidset(entry("tcp|127.0.0.1|" .. ports.shared))))
    local unix_found
    for _, s in ipairs(doc.sockets) do
      if s.proto == "unix" and s.addr == sockpath then
        unix_found = s
      end
    end
    assert.is_not_nil(unix_found, "unix listener missing")
    assert.is_true(#unix_found.processes >= 1)
    assert.is_nil(ours["tcp|127.0.0.1|" .. ports.ns], "another namespace's listener leaked in")
  end)

  it("finds the listener in another network namespace with --all-netns", function()
    gate.check()
    local ns_inode = tonumber(sh("stat -L -c %i /run/netns/" .. ns).stdout)
    local doc = our_listeners({ "listeners.lua", "--all-netns", "--json" })
    local in_ns = ss_listeners("ip netns exec " .. ns .. " ")
    local seen = 0
    for _, s in ipairs(doc.sockets) do
      if s.netns == ns_inode then
        seen = seen + 1
        local pids = assert(in_ns[our_key(s)], "not in the namespace's ss: " .. our_key(s))
        assert.is_true(same_set(pids, pidset(s)))
      end
    end
    assert.equal(1, seen)
    local s = assert(in_ns["tcp|127.0.0.1|" .. ports.ns])
    assert.is_true(s[ns_pid] ~= nil or next(s) ~= nil)
  end)

  it("reads /proc/net when sock_diag is not used, and says so", function()
    gate.check()
    local r = testenv.run({ "listeners.lua", "--json" }, { env = "CONNRECIPE_SOCK_DIAG=off" })
    assert.equal(0, r.code, r.stderr)
    local doc = json.decode(r.stdout)
    assert.equal("proc", doc.sources.tcp4)
    assert.equal("proc", doc.sources.unix)
    local keys = {}
    for _, s in ipairs(doc.sockets) do
      keys[our_key(s)] = s
    end
    assert.is_not_nil(keys["tcp|127.0.0.1|" .. ports.v4])
    assert.is_not_nil(keys["tcp|*|" .. ports.dual] or keys["tcp|::|" .. ports.dual])
    assert.is_not_nil(keys["udp|127.0.0.1|" .. ports.udp])
  end)

  it("marks owners it cannot see without root, and keeps the rows", function()
    gate.check()
    if not testenv.have("setpriv") then
      pending("needs setpriv to drop privileges")
    end
    local r = testenv.sh("setpriv --reuid=65534 --regid=65534 --clear-groups " .. testenv.quote(testenv.bin)
      .. " listeners.lua --json --port " .. ports.v4)
    assert.equal(0, r.code, r.stderr)
    local doc = json.decode(r.stdout)
    assert.equal(1, #doc.sockets)
    assert.is_true(doc.sockets[1].owner_unknown)
    assert.equal(0, #doc.sockets[1].processes)
  end)

  it("whoowns names the holder of a port and of a socket path", function()
    gate.check()
    local r = testenv.run({ "whoowns.lua", "127.0.0.1:" .. ports.dual })
    assert.equal(0, r.code, r.stderr)
    assert.matches("socat%(%d+%)", r.stdout)
    assert.matches("v4%+v6", r.stdout)
    r = testenv.run({ "whoowns.lua", sockpath, "--json" })
    assert.equal(0, r.code, r.stderr)
    local doc = json.decode(r.stdout)
    assert.equal("socat", doc.sockets[1].holders[1].comm)
    r = testenv.run({ "whoowns.lua", "nonsense:port" })
    assert.equal(2, r.code)
    assert.matches("^connrecipe: whoowns: ", r.stderr)
  end)

  it("cr.sockets and cr.process from Lua", function()
    gate.check()
    cr.run(function()
      local socks, info = cr.sockets({ proto = "tcp", port = ports.v4, state = "listen", processes = true })
      assert.equal(1, #socks)
      assert.equal("netlink", info.sources.tcp4)
      local s = socks[1]
      assert.equal("127.0.0.1", s.addr)
      assert.equal("listen", s.state)
      assert.is_true(s.sendq > 0)
      local p = assert(cr.process.get(s.processes[1].pid))
      assert.equal("socat", p.comm)
      assert.equal("socat", p.cmdline[1])
      assert.is_true(p.age >= 0)
      assert.is_true(p.start_time > 1e9)
      local found = cr.process.find("TCP4%-LISTEN:" .. ports.v4)
      assert.equal(1, #found)
      assert.equal(p.pid, found[1].pid)
      assert.is_true(#cr.process.list() > 1)
      local none, msg, code = cr.process.get(0x3ffffff0)
      assert.is_nil(none)
      assert.matches("no process", msg)
      assert.equal("ESRCH", code)
      local l = cr.listeners({ addr = sockpath })
      assert.equal(1, #l)
      assert.equal("unix", l[1].family)
      assert.has_error(function()
        cr.sockets({ proto = "sctp" })
      end)
      assert.has_error(function()
        cr.sockets({ bogus = 1 })
      end)
      assert.has_error(function()
        cr.process.find("[")
      end)
    end)
  end)
end)

describe("listeners argument errors", function()
  it("rejects a bad --port with one line and exit 2", function()
    local r = testenv.run({ "listeners.lua", "--port", "x" })
    assert.equal(2, r.code)
    assert.equal("connrecipe: listeners: --port: expected an integer, got 'x' (see 'connrecipe listeners --help')\n",
      r.stderr)
    r = testenv.run({ "listeners.lua", "--port", "70000" })
    assert.equal(2, r.code)
    assert.matches("%-%-port: must be at most 65535, got 70000", r.stderr)
  end)

  it("whoowns rejects a host name: it does not resolve", function()
    local r = testenv.run({ "whoowns.lua", "localhost:8080" })
    assert.equal(2, r.code)
    assert.matches("'localhost' is not an IP address", r.stderr)
  end)

  it("whoowns rejects a target that is not a port, an address or a path", function()
    local r = testenv.run({ "whoowns.lua", "localhost" })
    assert.equal(2, r.code)
    assert.equal("connrecipe: whoowns: PORT|ADDR:PORT|PATH: 'localhost' is not PORT, ADDR:PORT or a socket path "
      .. "(see 'connrecipe whoowns --help')\n", r.stderr)
  end)
end)

describe("whoowns and address spellings", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end)

  it("finds [::1] written out in full, and a socket on 127.0.0.1 that 0.0.0.0 would collide with", function()
    local ns = netns()
    testenv.tcp_listen(ns, 7401, { bind = "::1" })
    testenv.tcp_listen(ns, 7402)
    local r = testenv.run_in_netns(ns, { "whoowns.lua", "[0:0:0:0:0:0:0:1]:7401" })
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("socat", r.stdout)
    r = testenv.run_in_netns(ns, { "whoowns.lua", "0.0.0.0:7402" })
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert.matches("127%.0%.0%.1:7402", r.stdout)
    r = testenv.run_in_netns(ns, { "whoowns.lua", "127.0.0.2:7402" })
    assert.equal(1, r.code) -- 127.0.0.2 is free: 127.0.0.1 does not take it
  end)

  it("listeners --json stays valid UTF-8 when a socket's name is not", function()
    local ns = netns()
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/bad.py", "import socket,time\ns=socket.socket(socket.AF_UNIX)\n"
      .. "s.bind(b'\\0crtest-bad\\xffname')\ns.listen(1)\ntime.sleep(30)\n")
    testenv.background_in(ns, "timeout 30 python3 " .. dir .. "/bad.py")
    assert(testenv.wait_ss(ns, "-xl", "crtest-bad"))
    local r = testenv.run_in_netns(ns, { "listeners.lua", "--proto", "unix", "--json" })
    assert.equal(0, r.code)
    local check = testenv.sh("python3 -c 'import json,sys; d=json.loads(sys.stdin.buffer.read().decode(\"utf-8\")); "
      .. "print([s[\"addr\"] for s in d[\"sockets\"] if \"crtest-bad\" in s[\"addr\"]][0])'", { stdin = r.stdout })
    assert.equal(0, check.code, check.stderr)
    assert.equal("@crtest-bad\u{FFFD}name\n", check.stdout)
  end)
end)

describe("socket tables as JSON", function()
  -- The rows' encoder listeners.lua had in Lua before cr.json_sockets: the
  -- C one must give the same text byte for byte.
  local function jstr(v)
    return '"' .. json.utf8(v):gsub('[%c"\\]', function(c)
      return ("\\u%04x"):format(c:byte())
    end) .. '"'
  end
  local function jval(v)
    local t = type(v)
    if t == "string" then
      return jstr(v)
    elseif t == "number" or t == "boolean" then
      return tostring(v)
    end
    return "null"
  end
  local row_fields = { "proto", "family", "addr", "port", "dev", "dev_unknown", "state", "inode", "uid", "v6only",
    "netns", "recvq", "sendq", "drops", "owner_unknown" }
  local function lua_rows(socks)
    local rows = {}
    for i, s in ipairs(socks) do
      local parts = {}
      local row = { addr = s.addr or s.path }
      for _, k in ipairs(row_fields) do
        local v = row[k]
        if v == nil then
          v = s[k]
        end
        if v ~= nil then
          parts[#parts + 1] = jstr(k) .. ":" .. jval(v)
        end
      end
      local procs = {}
      for j, p in ipairs(s.processes or {}) do
        procs[j] = ('{"pid":%d,"comm":%s}'):format(p.pid, jstr(p.comm))
      end
      parts[#parts + 1] = '"processes":[' .. table.concat(procs, ",") .. "]"
      rows[i] = "{" .. table.concat(parts, ",") .. "}"
    end
    return "[" .. table.concat(rows, ",") .. "]"
  end

  it("cr.json_sockets encodes rows exactly as the Lua encoder did", function()
    local holder = { pid = 42, comm = "bad\xffname\n\"q\"\\\x7f\x01" }
    local socks = {
      { proto = "tcp", family = "inet", addr = "127.0.0.1", port = 80, dev = "eth\xff0", dev_unknown = true,
        state = "LISTEN", inode = 123456, uid = 0,
        netns = 4026531840, recvq = 0, sendq = 128, processes = { holder, { pid = 7, comm = "nginx" } } },
      { proto = "tcp", family = "inet6", addr = "::", port = 22, v6only = false, recvq = 1.5, sendq = 2.0,
        drops = 3, owner_unknown = true, processes = {} },
      { proto = "unix", family = "unix", path = "@a\0b\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", inode = 9 },
      -- overlong forms, surrogates, above U+10FFFF, a truncated character, a lone continuation byte
      { proto = "unix", family = "unix", path = "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82|\x80|\xff\xfe",
        processes = { holder } },
      { proto = "udp", addr = false, port = 1e20, state = { "a table" }, inode = -1, uid = math.mininteger },
      { proto = "udp", addr = false, path = "/p", processes = false },
      { family = "inet", port = 0 / 0, recvq = 1 / 0, sendq = -1 / 0 },
      {},
    }
    assert.equal(lua_rows(socks), cr.json_sockets(socks))
    assert.equal("[]", cr.json_sockets({}))
    local doc = assert(json.decode(cr.json_sockets({ socks[1], socks[3] })))
    assert.equal("bad\u{FFFD}name\n\"q\"\\\x7f\x01", doc[1].processes[1].comm)
  end)

  it("cr.json_sockets rejects what is not a socket list with a clear error", function()
    assert.has_error(function()
      cr.json_sockets({ 1 })
    end, "cr.json_sockets: entry 1 is a number, not a socket table")
    assert.has_error(function()
      cr.json_sockets({ { processes = { { pid = "x", comm = "a" } } } })
    end, "cr.json_sockets: process 1 has no integer pid")
    assert.has_error(function()
      cr.json_sockets({ { processes = { { pid = 1 } } } })
    end, "cr.json_sockets: process 1 has no comm string")
    assert.has_error(function()
      cr.json_sockets("tcp")
    end)
  end)

  it("stays valid UTF-8 when rows share a holder whose name is not", function()
    local holder = { pid = 42, comm = "bad\xffname" } -- cr.listeners shares it between rows
    local text = json.encode({ { port = 1, processes = { holder } }, { port = 2, processes = { holder } } })
    assert.is_not_nil(utf8.len(text), text)
    local _, n = text:gsub("bad\\ufffdname", "") -- the replacement character, escaped
    assert.equal(2, n, text)
  end)
end)

describe("cr.format_sockets", function()
  local function rows()
    return {
      { proto = "udp", family = "inet", addr = "127.0.0.1", port = 53, recvq = 0, sendq = 0, uid = 101,
        processes = {} },
      { proto = "tcp", family = "inet", addr = "127.0.0.10", port = 80, recvq = 0, sendq = 128, user = "www-data",
        processes = { { pid = 812, comm = "nginx", unit = "nginx.service" } } },
      { proto = "tcp", family = "inet", addr = "127.0.0.2", port = 80, recvq = 3, sendq = 511, user = "root",
        owner_unknown = true, processes = {} },
      { proto = "tcp", family = "inet6", addr = "::", port = 22, v6only = false, recvq = 0, sendq = 128,
        user = "root", processes = { { pid = 1, comm = "systemd" }, { pid = 700, comm = "sshd" },
          { pid = 701, comm = "sshd" }, { pid = 702, comm = "sshd" }, { pid = 703, comm = "sshd" } } },
      { proto = "tcp", family = "inet6", addr = "::1", port = 6379, recvq = 0, sendq = 511, user = "redis",
        container = "0123456789abcdef0123", processes = { { pid = 900, comm = "redis-server" } } },
      { proto = "unix", family = "unix", path = "/run/x.sock", inode = 4242, recvq = 0, sendq = 4096,
        processes = { { pid = 50, comm = "x", container = "fedcba987654" } } },
      { proto = "unix", family = "unix", inode = 77, recvq = 0, sendq = 0 },
    }
  end

  it("shows the device a socket is bound to as ss does: ADDR%DEV:PORT, in the table and the REPL's line", function()
    local bound = {
      { proto = "tcp", family = "inet", addr = "0.0.0.0", port = 80, dev = "eth0", state = "listen", recvq = 0,
        sendq = 128, processes = {} },
      { proto = "tcp", family = "inet6", addr = "::", port = 81, dev = "eth0", v6only = true, state = "listen",
        recvq = 0, sendq = 128, processes = {} },
      { proto = "tcp", family = "inet6", addr = "::", port = 82, dev = "eth0", v6only = false, state = "listen",
        recvq = 0, sendq = 128, processes = {} },
    }
    local text = cr.format_sockets(bound)
    assert.matches("0.0.0.0%eth0:80 ", text, 1, true)
    assert.matches("[::]%eth0:81 ", text, 1, true)
    assert.matches("*%eth0:82 (v4+v6)", text, 1, true)
    assert.equal("tcp listen 0.0.0.0%eth0:80", require("connrecipe.pretty").entry_line(bound[1]))
  end)

  it("renders the table sorted by protocol, family, numeric address and port", function()
    local text = cr.format_sockets(rows())
    local lines = {}
    for line in text:gmatch("([^\n]*)\n") do
      lines[#lines + 1] = line
    end
    assert.equal(8, #lines)
    assert.matches("^PROTO  LOCAL ADDRESS +RECV%-Q  SEND%-Q  PROCESS +USER +UNIT/CONTAINER$", lines[1])
    assert.matches("^tcp    127%.0%.0%.2:80 +3 +511  %? +root +%-$", lines[2])
    assert.matches("^tcp    127%.0%.0%.10:80 +0 +128  nginx/812 +www%-data +nginx%.service$", lines[3])
    assert.matches("^tcp    %*:22 %(v4%+v6%) +0 +128  systemd/1,sshd/700,sshd/701,%+2 more +root +%-$", lines[4])
    assert.matches("^tcp    %[::1%]:6379 .* redis%-server/900 +redis +container 0123456789ab$", lines[5])
    assert.matches("^udp    127%.0%.0%.1:53 +0 +0  %- +101 +%-$", lines[6])
    assert.matches("^unix   %(unnamed, inode 77%) .* %- +%- +%-$", lines[7])
    assert.matches("^unix   /run/x%.sock .* x/50 .* container fedcba987654$", lines[8])
    -- the columns line up: every row's RECV-Q ends where the heading's does
    local col = lines[1]:find("RECV%-Q") + #"RECV-Q" - 1
    for i = 2, #lines do
      assert.matches("%d", lines[i]:sub(col, col), lines[i])
    end
  end)

  it("keeps the given order with sort = false and adds NETNS with netns = true", function()
    local r = rows()
    r[1].netns = 4026531840
    r[2].netns_name = "blue"
    local text = cr.format_sockets(r, { sort = false, netns = true })
    local first, second = text:match("^[^\n]*\n([^\n]*)\n([^\n]*)\n")
    assert.matches("^PROTO .* UNIT/CONTAINER +NETNS\n", text)
    assert.matches("^udp .* 4026531840$", first)
    assert.matches("^tcp .* nginx%.service  +blue$", second)
    assert.equal("PROTO  LOCAL ADDRESS  RECV-Q  SEND-Q  PROCESS  USER  UNIT/CONTAINER\n", cr.format_sockets({}))
  end)

  it("rejects what is not a socket list with a clear error", function()
    assert.has_error(function()
      cr.format_sockets({ 1 })
    end, "cr.format_sockets: entry 1 is a number, not a socket table")
    assert.has_error(function()
      cr.format_sockets({}, { colour = true })
    end, "cr.format_sockets: unknown option 'colour' (expected netns, sort)")
    assert.has_error(function()
      cr.format_sockets({}, { netns = "yes" })
    end, "cr.format_sockets: netns must be a boolean")
    assert.has_error(function()
      cr.format_sockets("tcp")
    end)
  end)

  -- One call on rows that only a weak table holds (or whose holder tables
  -- only a weak list holds), with `slack` bytes left before the collector is
  -- due. Garbage made alongside has a finalizer that allocates strings of the
  -- rows' sizes, so memory a collection frees during the call is reused.
  local function weak_call(slack, weak_holders)
    local function row(i)
      local p = { pid = i, comm = ("c"):rep(50) .. ("%04d"):format(i) }
      return { proto = "tcp", family = "inet", addr = "127.0.0." .. i, port = 1000 + i,
        user = ("u"):rep(60) .. ("%04d"):format(i),
        processes = weak_holders and setmetatable({ p }, { __mode = "v" }) or { p } }
    end
    local strong = {}
    for i = 1, 16 do
      strong[i] = row(i)
    end
    local want = cr.format_sockets(strong)
    local weak, reused = setmetatable({}, { __mode = "v" }), {}
    local ran -- set by the finalizer
    collectgarbage()
    local threshold = collectgarbage("count") * 1024 * 2 -- the pause is 200
    for i = 1, 16 do
      weak[i] = row(i)
    end
    setmetatable({}, { __gc = function()
      ran = true
      for _, n in ipairs({ 54, 64 }) do
        for _ = 1, 128 do
          reused[#reused + 1] = ("Z"):rep(n)
        end
      end
    end })
    local gap = math.floor(threshold - slack - collectgarbage("count") * 1024)
    local filler = gap > 1200 and ("f"):rep(gap - 1100) or nil -- luacheck: ignore 211 (held, not read)
    ran = false
    local ok, text = pcall(cr.format_sockets, weak)
    if not ok then
      return "error" -- collected before it was read: "entry 1 is a nil"
    end
    return text == want and (ran and "collected" or "ok") or "wrong", text
  end

  it("keeps the rows it reads alive when the list or a row holds them weakly", function()
    collectgarbage("incremental", 200, 100, 40) -- a step, once due, runs the whole cycle
    local ok, err = pcall(function()
      for _, weak_holders in ipairs({ false, true }) do
        -- the least slack at which the rows survive until they are read...
        local lo, hi = 0, 65536
        while lo < hi do
          local mid = (lo + hi) // 2
          if weak_call(mid, weak_holders) == "error" then
            lo = mid + 1
          else
            hi = mid
          end
        end
        -- ...and just above it (the heap is not quite the same from one call
        -- to the next: walk up until well past the last "error"), a collection
        -- in the middle of the call
        local collected, streak, slack = 0, 0, math.max(lo - 256, 0)
        while streak < 100 and slack < lo + 8192 do
          local r, text = weak_call(slack, weak_holders)
          assert(r ~= "wrong", text)
          collected = collected + (r == "collected" and 1 or 0)
          streak = r == "error" and 0 or streak + 1
          slack = slack + 2
        end
        assert(collected > 0, "no collection during a call: the test missed its window")
      end
    end)
    collectgarbage("incremental", 200, 100, 13)
    assert(ok, err)
  end)
end)

describe("listeners text table", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end)

  it("shows each listener with its holder, and --port 0 lists no Unix socket", function()
    local ns = netns()
    testenv.tcp_listen(ns, 7410)
    testenv.tcp_listen(ns, 7411, { bind = "::", options = ",ipv6only=0" })
    testenv.background_in(ns, "timeout 30 socat ABSTRACT-LISTEN:crtest-fmt,fork SYSTEM:true")
    assert(testenv.wait_ss(ns, "-xl", "crtest-fmt"))
    local r = testenv.run_in_netns(ns, { "listeners.lua" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("\ntcp +127%.0%.0%.1:7410 +0 +%d+  socat/%d+ +root ", r.stdout)
    assert.matches("\ntcp +%*:7411 %(v4%+v6%) ", r.stdout)
    assert.matches("\nunix +@crtest%-fmt +0 +%d+  socat/%d+ ", r.stdout)
    -- tcp rows come before unix rows
    assert.is_true(r.stdout:find("7411", 1, true) < r.stdout:find("crtest-fmt", 1, true))
    r = testenv.run_in_netns(ns, { "listeners.lua", "--port", "0", "--json" })
    assert.equal(0, r.code, r.stderr)
    for _, s in ipairs(json.decode(r.stdout).sockets) do
      assert.are_not.equal("unix", s.proto)
    end
  end)
end)
