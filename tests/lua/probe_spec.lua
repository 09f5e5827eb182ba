-- cr.resolve and cr.probe.* against real servers and real packet filters, each
-- test in a private network namespace of its own (loopback only).
local testenv = require "testenv"
local dkjson = require "dkjson"
local cr = require "connrecipe"

local q = testenv.quote

-- Runs `expr` through `connrecipe -e` inside ns and decodes the JSON of its value.
local function eval_in(ns, expr, prefix)
  local code = 'local json = require "connrecipe.json"\nprint(json.encode((' .. expr .. ")))"
  local r = testenv.cr_in_netns(ns, code, prefix)
  assert(r.code == 0, "connrecipe failed: " .. r.stderr .. r.stdout)
  local v = dkjson.decode(r.stdout)
  assert(v ~= nil, "not JSON: " .. r.stdout)
  return v
end

local function socat(ns, args)
  testenv.background_in(ns, "timeout 60 socat " .. args)
end

local function tcp_server(ns, port, handler)
  testenv.tcp_listen(ns, port, { handler = handler })
end

local function ns_sh(ns, cmd)
  testenv.sh_in(ns, cmd)
end

-- Registers the hooks that give each test of a describe a fresh namespace
-- (skipped unless root); returns the accessor.
local function per_test_netns(opts)
  return testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, opts)
end

describe("cr.probe.tcp", function()
  local netns = per_test_netns()

  it("tells open from refused", function()
    local ns = netns()
    tcp_server(ns, 7001)
    local open = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7001)')
    assert.equal("open", open.status)
    assert.equal("open", open.results[1].status)
    assert.equal("127.0.0.1", open.results[1].local_addr)
    assert.is_true(open.results[1].local_port > 0)
    assert.is_number(open.results[1].ms)
    local closed = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7002)')
    assert.equal("refused", closed.status)
    assert.equal("ECONNREFUSED", closed.results[1].errno)
  end)

  it("connects from inside another namespace with netns, and says why it cannot enter one", function()
    local ns, other = netns(), testenv.netns()
    tcp_server(other, 7011)
    local there = eval_in(ns, ('cr.probe.tcp("127.0.0.1", 7011, {netns = "/run/netns/%s"})'):format(other))
    assert.equal("open", there.status)
    local here = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7011)') -- the namespace it runs in is left as it was
    assert.equal("refused", here.status)
    local missing = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7011, {netns = "/run/netns/crtest-no-such-ns"})')
    assert.equal("ENOENT", missing.results[1].errno)
    local r = testenv.cr_in_netns(ns, 'cr.probe.tcp("127.0.0.1", 7011, {netns = 5})')
    assert.matches("cr.probe: netns must be a string", r.stderr, 1, true)
  end)

  it("reports a silently dropped SYN as a timeout", function()
    local ns = netns()
    ns_sh(ns, "iptables -A INPUT -p tcp --dport 7004 -j DROP")
    local r = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7004, {timeout = 0.3})')
    assert.equal("timeout", r.status)
    assert.equal("ETIMEDOUT", r.results[1].errno)
    assert.is_true(r.results[1].ms >= 250 and r.results[1].ms < 10000)
  end)

  it("reports ICMP admin-prohibited as unreachable", function()
    local ns = netns()
    ns_sh(ns, "iptables -A INPUT -p tcp --dport 7005 -j REJECT --reject-with icmp-admin-prohibited")
    local r = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7005)')
    assert.equal("unreachable", r.status)
    assert.equal("EHOSTUNREACH", r.results[1].errno)
  end)

  it("reports a firewall RST as refused and a reset after the handshake as reset", function()
    local ns = netns()
    ns_sh(ns, "iptables -A INPUT -p tcp --dport 7006 -j REJECT --reject-with tcp-reset")
    assert.equal("refused", eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7006)').status)
    -- the handshake completes, then the final ACK is answered with a RST
    tcp_server(ns, 7007)
    ns_sh(ns, "iptables -A INPUT -p tcp --dport 7007 --tcp-flags SYN,ACK,RST ACK " ..
      "-j REJECT --reject-with tcp-reset")
    local r = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7007)')
    assert.equal("reset", r.status)
    assert.equal("ECONNRESET", r.results[1].errno)
  end)

  it("does not call a TCP self-connect open", function()
    local ns = netns()
    local r = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 40123, {source_port = 40123})')
    assert.equal("refused", r.status)
    assert.is_true(r.self_connect)
    assert.is_true(r.results[1].self_connect)
    assert.equal(40123, r.results[1].local_port)
  end)

  it("reads a banner, and a reply to what it sends", function()
    local ns = netns()
    tcp_server(ns, 7010, "SYSTEM:'echo SSH-2.0-OpenSSH_test; sleep 1'")
    local r = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7010, {banner = true})')
    assert.equal("open", r.status)
    assert.equal("SSH-2.0-OpenSSH_test\n", r.banner)
    socat(ns, "TCP4-LISTEN:7011,bind=127.0.0.1,reuseaddr,fork EXEC:cat")
    assert(testenv.wait_listening(ns, "tcp", 7011))
    r = eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7011, {send = "PING\\r\\n", read_bytes = 4})')
    assert.equal("PING", r.banner)
  end)

  it("settle: tells a server that speaks first, closes, resets or waits; sends only to one that waits", function()
    local ns = netns()
    tcp_server(ns, 7013, "SYSTEM:'echo -DENIED protected'")
    tcp_server(ns, 7014, "SYSTEM:true")
    tcp_server(ns, 7015, "EXEC:cat")
    local dir = testenv.tmpdir() -- accepts and resets: SO_LINGER 0, then close
    testenv.write_file(dir .. "/reset.py", "import socket,struct\ns=socket.socket()\n"
      .. "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',7016))\ns.listen(8)\n"
      .. "while True:\n  c,_=s.accept()\n"
      .. "  c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0))\n  c.close()\n")
    testenv.background_in(ns, "timeout 60 python3 " .. dir .. "/reset.py")
    assert(testenv.wait_listening(ns, "tcp", 7016))
    local function settle(port)
      return eval_in(ns, ('cr.probe.tcp("127.0.0.1", %d, {settle = 0.2, send = "PING\\r\\n"})'):format(port))
    end
    local r = settle(7013)
    assert.same({ "open", "spoke", "-DENIED protected\n", "closed" }, { r.status, r.after_connect, r.banner,
                                                                        r.banner_end })
    assert.is_nil(r.reply) -- nothing was sent to a server that spoke first
    r = settle(7014)
    assert.same({ "open", "closed", "" }, { r.status, r.after_connect, r.banner })
    r = settle(7015)
    assert.same({ "silent", "PING\r\n", "quiet" }, { r.after_connect, r.reply, r.reply_end })
    r = settle(7016)
    if r.status == "reset" then -- the reset beat the connect's own wake-up: connect() said ECONNRESET
      assert.is_nil(r.after_connect)
    else
      assert.same({ "open", "reset", "ECONNRESET" }, { r.status, r.after_connect, r.read_errno })
    end
    assert.matches("settle must be a number > 0",
      testenv.cr_in_netns(ns, 'cr.probe.tcp("127.0.0.1", 7015, {settle = -1})').stderr, 1, true)
  end)

  it("tells IPv4 from IPv6: a listener on ::1 only", function()
    local ns = netns()
    socat(ns, "TCP6-LISTEN:7012,bind=[::1],ipv6only=1,reuseaddr,fork SYSTEM:true")
    assert(testenv.wait_listening(ns, "tcp", 7012))
    assert.equal("refused", eval_in(ns, 'cr.probe.tcp("127.0.0.1", 7012)').status)
    local v6 = eval_in(ns, 'cr.probe.tcp("::1", 7012)')
    assert.equal("open", v6.status)
    assert.equal("inet6", v6.results[1].family)
    assert.equal("::1", v6.results[1].local_addr)
    assert.equal("open", eval_in(ns, 'cr.probe.tcp("[::1]", 7012)').status)
  end)

  it("tries every address a name has, or only the first", function()
    local ns = netns()
    testenv.netns_etc(ns, { hosts = "127.0.0.1 both.test\n::1 both.test\n", ["nsswitch.conf"] = "hosts: files\n" })
    socat(ns, "TCP6-LISTEN:7013,bind=[::1],ipv6only=1,reuseaddr,fork SYSTEM:true")
    assert(testenv.wait_listening(ns, "tcp", 7013))
    local r = eval_in(ns, 'cr.probe.tcp("both.test", 7013)')
    assert.equal(2, #r.results)
    assert.equal("open", r.status)
    local by_family = {}
    for _, x in ipairs(r.results) do
      by_family[x.family] = x.status
    end
    assert.same({ inet = "refused", inet6 = "open" }, by_family)
    local first = eval_in(ns, 'cr.probe.tcp("both.test", 7013, {first_only = true})')
    assert.equal(1, #first.results)
  end)

  it("returns nil, message, EAI code for a name that does not resolve", function()
    local ns = netns()
    testenv.netns_etc(ns, { hosts = "127.0.0.1 localhost\n", ["nsswitch.conf"] = "hosts: files\n" })
    local r = eval_in(ns, [[(function()
      local v, msg, code = cr.probe.tcp("no-such-host.test", 80)
      return {v = v, msg = msg, code = code} end)()]])
    assert.is_nil(r.v)
    assert.equal("EAI_NONAME", r.code)
    assert.matches("no%-such%-host%.test", r.msg)
  end)

  it("closes its socket when the task is cancelled mid-probe", function()
    -- The probe's connection, stuck in SYN-SENT behind a DROP rule, is the only
    -- one to port 7014 in this namespace: it exists while the probe runs and is
    -- gone once its fd is closed (a SYN-SENT socket leaves no TIME-WAIT), so no
    -- fd count (which other handles change) and no timing is involved.
    local ns = netns()
    ns_sh(ns, "iptables -A INPUT -p tcp --dport 7014 -j DROP")
    local r = eval_in(ns, [[(function()
      local function connecting()
        local out = assert(cr.exec{"ss", "-tnH", "state", "syn-sent", "dst", "127.0.0.1:7014"}).stdout
        return select(2, out:gsub("[^\n]+", ""))
      end
      local t = cr.spawn(cr.probe.tcp, "127.0.0.1", 7014, {timeout = 30})
      local during = 0
      for _ = 1, 500 do -- bounded: the probe connects as soon as its task runs
        during = connecting()
        if during > 0 then break end
        cr.sleep(0.01)
      end
      t:cancel()
      return {during = during, after = connecting(), status = t:status()}
    end)()]])
    assert.equal("cancelled", r.status)
    assert.equal(1, r.during, "the probe's connection was never seen")
    assert.equal(0, r.after, "the probe's socket is still open after the cancel")
  end)
end)

describe("cr.probe.tls", function()
  local netns = per_test_netns()

  it("reports version, cipher and certificate, and verifies against a given CA file; a plain port's answer", function()
    if not (testenv.have("openssl") and testenv.have("socat")) then
      return pending("openssl or socat not installed")
    end
    local ns, dir = netns(), testenv.tmpdir()
    testenv.sh_ok(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 "
      .. "-subj /CN=web.test -addext subjectAltName=DNS:web.test,IP:127.0.0.1 2>/dev/null"):format(dir))
    socat(ns, ("OPENSSL-LISTEN:7030,bind=127.0.0.1,reuseaddr,fork,cert=%s/cert.pem,key=%s/key.pem,verify=0 "
      .. "SYSTEM:'sleep 1'"):format(dir, dir))
    assert(testenv.wait_listening(ns, "tcp", 7030))
    local r = eval_in(ns, 'cr.probe.tls("127.0.0.1", 7030)')
    assert.same({ "open", true, "CN=web.test", "CN=web.test", true, true },
      { r.status, r.handshake, r.subject, r.issuer, r.self_signed, r.name_match })
    assert.same({ "DNS:web.test", "IP:127.0.0.1" }, r.san)
    assert.matches("^TLSv1", r.version)
    assert.is_string(r.cipher)
    assert.equal("self-signed certificate", r.verify)
    assert.is_true(r.not_after > r.not_before)
    r = eval_in(ns, ('cr.probe.tls("127.0.0.1", 7030, {ca_file = %q, name = "web.test"})'):format(dir .. "/cert.pem"))
    assert.same({ "ok", 0, true }, { r.verify, r.verify_code, r.name_match })
    r = eval_in(ns, 'cr.probe.tls("127.0.0.1", 7030, {name = "other.test"})')
    assert.is_false(r.name_match)
    tcp_server(ns, 7031, "SYSTEM:'echo SSH-2.0-OpenSSH_test; sleep 1'")
    r = eval_in(ns, 'cr.probe.tls("127.0.0.1", 7031)')
    assert.same({ "open", false, "SSH-2.0-OpenSSH_test\n" }, { r.status, r.handshake, r.received })
    assert.is_string(r.error)
    r = eval_in(ns, 'cr.probe.tls("127.0.0.1", 7032)')
    assert.same({ "refused" }, { r.status })
    assert.is_nil(r.handshake)
  end)

  it("shakes hands from inside another namespace with netns, and says why it cannot enter one", function()
    if not (testenv.have("openssl") and testenv.have("socat")) then
      return pending("openssl or socat not installed")
    end
    local ns, other, dir = netns(), testenv.netns(), testenv.tmpdir()
    testenv.sh_ok(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 "
      .. "-subj /CN=far.test 2>/dev/null"):format(dir))
    socat(other, ("OPENSSL-LISTEN:7033,bind=127.0.0.1,reuseaddr,fork,cert=%s/cert.pem,key=%s/key.pem,verify=0 "
      .. "SYSTEM:'sleep 1'"):format(dir, dir))
    assert(testenv.wait_listening(other, "tcp", 7033))
    local there = eval_in(ns, ('cr.probe.tls("127.0.0.1", 7033, {netns = "/run/netns/%s"})'):format(other))
    assert.same({ "open", true, "CN=far.test" }, { there.status, there.handshake, there.subject })
    local here = eval_in(ns, 'cr.probe.tls("127.0.0.1", 7033)') -- this namespace is left as it was
    assert.equal("refused", here.status)
    local missing = eval_in(ns, 'cr.probe.tls("127.0.0.1", 7033, {netns = "/run/netns/crtest-no-such-ns"})')
    assert.same({ "error", "ENOENT" }, { missing.status, missing.results[1].errno })
    local r = testenv.cr_in_netns(ns, 'cr.probe.tls("127.0.0.1", 7033, {netns = 5})')
    assert.matches("cr.probe: netns must be a string", r.stderr, 1, true)
  end)
end)

describe("cr.probe.udp", function()
  local netns = per_test_netns()

  it("tells open (a reply) from refused (ICMP port unreachable) from silence", function()
    local ns = netns()
    socat(ns, "UDP4-RECVFROM:7020,bind=127.0.0.1,fork EXEC:cat")
    assert(testenv.wait_listening(ns, "udp", 7020))
    local open = eval_in(ns, 'cr.probe.udp("127.0.0.1", 7020, {send = "hello"})')
    assert.equal("open", open.status)
    assert.equal("hello", open.reply)
    local refused = eval_in(ns, 'cr.probe.udp("127.0.0.1", 7021)')
    assert.equal("refused", refused.status)
    assert.equal("ECONNREFUSED", refused.results[1].errno)
    ns_sh(ns, "iptables -A INPUT -p udp --dport 7022 -j DROP")
    local silent = eval_in(ns, 'cr.probe.udp("127.0.0.1", 7022, {timeout = 0.3})')
    assert.equal("open|filtered", silent.status)
  end)

  it("reports its own datagram dropped on output as denied", function()
    local ns = netns()
    ns_sh(ns, "iptables -A OUTPUT -p udp --dport 7023 -j DROP")
    local r = eval_in(ns, 'cr.probe.udp("127.0.0.1", 7023)')
    assert.equal("denied", r.status)
    assert.equal("EPERM", r.results[1].errno)
  end)
end)

describe("cr.probe.unix", function()
  local dir
  local netns = per_test_netns { prepare = function()
    dir = testenv.tmpdir()
    os.execute("chmod 755 " .. q(dir))
  end }

  local function probe(path, prefix)
    return eval_in(netns(), ("cr.probe.unix(%q)"):format(path), prefix)
  end

  it("tells open, stale, missing and not-a-socket apart", function()
    local ns = netns()
    local live = dir .. "/live.sock"
    socat(ns, "UNIX-LISTEN:" .. live .. ",fork SYSTEM:true")
    assert(testenv.wait_socket(live))
    local r = probe(live)
    assert.equal("open", r.status)
    assert.equal("stream", r.socket_type)

    local stale = dir .. "/stale.sock" -- bound, never listening, owner gone
    assert(testenv.sh("python3 -c " .. q("import socket; socket.socket(socket.AF_UNIX).bind('" .. stale .. "')")).code
      == 0)
    r = probe(stale)
    assert.equal("refused", r.status)
    assert.equal("ECONNREFUSED", r.errno)

    r = probe(dir .. "/nothing.sock")
    assert.equal("missing", r.status)
    assert.equal("ENOENT", r.errno)

    testenv.write_file(dir .. "/plain", "x")
    assert.equal("not-a-socket", probe(dir .. "/plain").status)
  end)

  it("reports a socket its user may not open as denied", function()
    local ns = netns()
    local path = dir .. "/locked.sock"
    socat(ns, "UNIX-LISTEN:" .. path .. ",fork,mode=000 SYSTEM:true")
    assert(testenv.wait_socket(path))
    local r = probe(path, "setpriv --reuid=nobody --regid=nogroup --clear-groups")
    assert.equal("denied", r.status)
    assert.equal("EACCES", r.errno)
    assert.equal("open", probe(path).status) -- root may
  end)

  it("reports a full backlog as busy", function()
    local ns = netns()
    local path = dir .. "/slow.sock"
    -- listens with a backlog of 1 and never accepts (killed with the namespace)
    local server = ("import socket, time; s = socket.socket(socket.AF_UNIX); s.bind('%s'); s.listen(1); "
      .. "time.sleep(30)"):format(path)
    testenv.background_in(ns, "python3 -c " .. q(server))
    assert(testenv.wait_socket(path))
    -- each probe's connection waits in the queue after the probe closes its end
    local r = eval_in(ns, ([[(function()
      local seen = {}
      for _ = 1, 5 do
        local st = cr.probe.unix(%q)
        seen[#seen + 1] = st.status
        if st.status == "busy" then return {seen = seen, errno = st.errno} end
      end
      return {seen = seen}
    end)()]]):format(path))
    assert.equal("open", r.seen[1])
    assert.equal("busy", r.seen[#r.seen], table.concat(r.seen, ","))
    assert.equal("EAGAIN", r.errno)
  end)

  it("supports abstract names", function()
    local ns = netns()
    socat(ns, "ABSTRACT-LISTEN:connrecipe-test-abstract,fork SYSTEM:true")
    assert(testenv.wait_ss(ns, "-xl", "connrecipe-test-abstract"))
    assert.equal("open", probe("@connrecipe-test-abstract").status)
    assert.equal("refused", probe("@connrecipe-test-nobody").status)
  end)
end)

describe("cr.resolve", function()
  local netns = per_test_netns { prepare = function(ns)
    -- files only: no DNS query can be sent, even by mistake
    testenv.netns_etc(ns, {
      hosts = "::1 localhost\n127.0.0.1 localhost\n127.0.0.5 app.test\n",
      ["nsswitch.conf"] = "hosts: files\n",
      ["resolv.conf"] = "nameserver 127.0.0.1\n",
    })
  end }

  it("lists addresses in the client's order, ::1 first for localhost", function()
    local ns = netns()
    local r = eval_in(ns, 'cr.resolve("localhost")')
    assert.same({ { addr = "::1", family = "inet6" }, { addr = "127.0.0.1", family = "inet" } }, r)
    assert.same({ { addr = "127.0.0.1", family = "inet" } }, eval_in(ns, 'cr.resolve("localhost", {family = "inet"})'))
    assert.same({ { addr = "127.0.0.5", family = "inet" } }, eval_in(ns, 'cr.resolve("app.test")'))
  end)

  it("returns nil, message, EAI code for an unknown name", function()
    local ns = netns()
    local r = eval_in(ns, '(function() local v, m, c = cr.resolve("unknown.test") return {v = v, m = m, c = c} end)()')
    assert.is_nil(r.v)
    assert.equal("EAI_NONAME", r.c)
    assert.matches("unknown%.test", r.m)
  end)
end)

describe("cr.probe.scan", function()
  local netns = per_test_netns()

  it("finds exactly the listeners the test opened, over the full range", function()
    local ns = netns()
    local ports = { 22, 8080, 31337, 65535 }
    for _, p in ipairs(ports) do
      tcp_server(ns, p)
    end
    local r = eval_in(ns, 'cr.probe.scan{host = "127.0.0.1", ports = "1-65535", timeout = 0.5}')
    assert.same(ports, r.open)
    assert.equal(65535 - #ports, r.counts.refused)
    assert.equal(#ports, r.counts.open)
  end)

  it("scans IPv6 loopback too", function()
    local ns = netns()
    socat(ns, "TCP6-LISTEN:7030,bind=[::1],ipv6only=1,reuseaddr,fork SYSTEM:true")
    assert(testenv.wait_listening(ns, "tcp", 7030))
    local r = eval_in(ns, 'cr.probe.scan{host = "::1", ports = "7000-7100"}')
    assert.same({ 7030 }, r.open)
    assert.equal("inet6", r.family)
    assert.equal(100, r.counts.refused)
  end)

  it("still finds every port when file descriptors run out", function()
    local ns = netns()
    local ports = { 5001, 5250, 5299 }
    for _, p in ipairs(ports) do
      tcp_server(ns, p)
    end
    -- dropped SYNs keep connects pending, so the window fills and hits the limit
    ns_sh(ns, "iptables -A INPUT -p tcp --dport 5100:5199 -j DROP")
    local r = eval_in(ns, 'cr.probe.scan{host = "127.0.0.1", ports = "5000-5300", timeout = 0.3, concurrency = 1000}',
      "prlimit --nofile=40")
    assert.same(ports, r.open)
    assert.equal(100, r.counts.timeout)
    assert.equal(301 - 100 - #ports, r.counts.refused)
    assert.is_true(r.fd_limit_hits > 0, "the descriptor limit was never hit")
    assert.is_true(r.concurrency < 40)
  end)

  it("raises the concurrency again, up to the limit asked for, once descriptors come back", function()
    local ns = netns()
    local ports = { 5001, 5600 }
    for _, p in ipairs(ports) do
      tcp_server(ns, p)
    end
    ns_sh(ns, "iptables -A INPUT -p tcp --dport 5100:5499 -j DROP")
    -- every descriptor but 8 is taken by open files, given back 0.3 s into the
    -- scan: the window falls below 8, then must climb back to 20
    local r = eval_in(ns, [[(function()
      local held = {}
      for _ = 1, 100 do
        local f = io.open("/dev/null")
        if not f then break end
        held[#held + 1] = f
      end
      for _ = 1, 8 do table.remove(held):close() end
      cr.spawn(function()
        cr.sleep(0.3)
        for _, f in ipairs(held) do f:close() end
      end)
      return cr.probe.scan{host = "127.0.0.1", ports = "5000-5999", timeout = 0.1, concurrency = 20}
    end)()]], "prlimit --nofile=64")
    assert.same(ports, r.open)
    assert.equal(400, r.counts.timeout)
    assert.equal(1000 - 400 - #ports, r.counts.refused)
    assert.is_true(r.fd_limit_hits > 0, "the descriptor limit was never hit")
    assert.is_true(r.concurrency_min <= 8, "the window was not lowered: " .. tostring(r.concurrency_min))
    assert.is_true(r.concurrency_raises >= 20 - 8, "raised " .. tostring(r.concurrency_raises) .. " times")
    assert.equal(20, r.concurrency)
  end)

  it("reports progress to on_progress and can scan a list", function()
    local ns = netns()
    tcp_server(ns, 6001)
    local r = eval_in(ns, [[(function()
      local calls, last = 0
      local res = cr.probe.scan{host = "127.0.0.1", ports = {6000, 6001, 6002}, on_progress = function(p)
        calls = calls + 1; last = p end}
      return {open = res.open, calls = calls, done = last.done, total = last.total, finished = last.finished}
    end)()]])
    assert.same({ 6001 }, r.open)
    assert.is_true(r.calls >= 1)
    assert.equal(3, r.done)
    assert.equal(3, r.total)
    assert.is_true(r.finished)
  end)
end)

describe("argument checking (no root needed)", function()
  it("raises for bad port specs, naming the bad part", function()
    local ok, err = pcall(cr.run, function()
      return cr.probe.scan { host = "127.0.0.1", ports = "1-80,99999" }
    end)
    assert.is_false(ok)
    assert.matches('bad port spec "99999" in "1%-80,99999": ports are 1%-65535', err)
    ok, err = pcall(cr.run, function()
      return cr.probe.scan { host = "127.0.0.1", ports = "90-10" }
    end)
    assert.is_false(ok)
    assert.matches("range start is after its end", err)
  end)

  it("raises for wrong argument types", function()
    assert.has_error(function()
      cr.run(function()
        return cr.probe.tcp("127.0.0.1", 0)
      end)
    end)
    assert.has_error(function()
      cr.run(function()
        return cr.probe.tcp(42, 80)
      end)
    end)
    assert.has_error(function()
      cr.run(function()
        return cr.probe.scan { host = "127.0.0.1", bogus = 1 }
      end)
    end)
  end)

  it("answers literal addresses without the resolver", function()
    local r4, r6, rb, bad = cr.run(function()
      return cr.resolve("127.0.0.1"), cr.resolve("::1"), cr.resolve("[::1]"),
        { cr.resolve("::1", { family = "inet" }) }
    end)
    assert.same({ { addr = "127.0.0.1", family = "inet" } }, r4)
    assert.same({ { addr = "::1", family = "inet6" } }, r6)
    assert.same({ { addr = "::1", family = "inet6" } }, rb)
    assert.is_nil(bad[1])
    assert.equal("EAI_ADDRFAMILY", bad[3])
  end)

  it("probe.unix reports a missing path", function()
    local r = cr.probe.unix("/nonexistent/connrecipe.sock")
    assert.equal("missing", r.status)
  end)

  it("probe.unix says it takes no options instead of ignoring them", function()
    local ok, err = pcall(cr.probe.unix, "/nonexistent/connrecipe.sock", { timeout = 1 })
    assert.is_false(ok)
    assert.matches("cr%.probe%.unix: unknown option 'timeout' %(it takes none", err)
    assert.equal("missing", cr.probe.unix("/nonexistent/connrecipe.sock", {}).status)
    assert.has_error(function()
      cr.probe.unix("/nonexistent/connrecipe.sock", 5)
    end)
  end)
end)
