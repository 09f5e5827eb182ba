-- diagnose.lua, one scenario per finding: real servers (python3, socat,
-- redis-server, nginx) and real packet-filter rules inside private network
-- namespaces; asserts the JSON verdict, the finding ids and that the
-- responsible process is named.
-- "other-netns" looks at every namespace on the machine, so a port another
-- run (another engineer's suite, a benchmark fixture) listens on in its own
-- namespace would change the verdict: each test takes a block of ports
-- nothing listens on anywhere (testenv.port_block), and port(80) stands where
-- 47080 stood, so that near ports stay near (port(81)) and far ones far
-- (port(999)). A test that needs a well-known port skips when it is taken.
local testenv = require "testenv"
local dkjson = require "dkjson"
local q = testenv.quote

local netns -- this test's namespace (testenv.per_test_netns)
local base -- and its block of ports

local function port(n)
  netns() -- skips the test when it cannot run
  return base + n
end

local function bg(cmd, namespace)
  testenv.background_in(namespace or netns(), cmd)
end

local function sh_ns(cmd, namespace)
  return testenv.sh_in(namespace or netns(), cmd)
end

local function listen(p, bind, opts, handler)
  testenv.tcp_listen(netns(), p, { bind = bind, options = opts, handler = handler })
end

-- A python3 listener on 127.0.0.1:p with this backlog that never accepts.
local function listen_never_accepting(p, backlog)
  local dir = testenv.tmpdir()
  testenv.write_file(dir .. "/noaccept.py", ("import socket,time\ns=socket.socket()\n"
    .. "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',%d))\ns.listen(%d)\n"
    .. "time.sleep(60)\n"):format(p, backlog))
  bg("timeout 60 python3 " .. dir .. "/noaccept.py")
  assert(testenv.wait_listening(netns(), "tcp", p))
end

-- An nft rule in an input chain of this test's namespace.
local function nft_input(rule)
  sh_ns("nft add table inet crtest")
  sh_ns("nft add chain inet crtest in '{ type filter hook input priority 0; }'")
  sh_ns("nft add rule inet crtest in " .. rule)
end

-- Certificates made here with openssl: a self-signed one for web.test and
-- 127.0.0.1 (cert.pem, key.pem), and one that expired in 2020 (old.pem).
local function make_certificates(dir)
  testenv.sh_ok(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 "
    .. "-subj /CN=web.test -addext subjectAltName=DNS:web.test,IP:127.0.0.1 2>/dev/null"):format(dir))
  testenv.write_file(dir .. "/ca.cnf", "[ca]\ndefault_ca = own\n[own]\ndatabase = index.txt\nnew_certs_dir = .\n"
    .. "serial = serial\ndefault_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n")
  testenv.write_file(dir .. "/index.txt", "")
  testenv.write_file(dir .. "/serial", "01\n")
  testenv.sh_ok(("cd %s && openssl req -new -newkey rsa:2048 -nodes -keyout old.key -out old.csr -subj /CN=old.test "
    .. "2>/dev/null && openssl ca -batch -selfsign -keyfile old.key -in old.csr -out old.pem -config ca.cnf "
    .. "-startdate 20200101000000Z -enddate 20200201000000Z 2>/dev/null"):format(dir))
end

-- nginx in this test's namespace with servers {port, cert (nil: plain)}.
local function nginx_tls(dir, servers)
  local conf = {}
  for _, sv in ipairs(servers) do
    conf[#conf + 1] = sv.cert and ("server { listen 127.0.0.1:%d ssl; ssl_certificate %s/%s.pem; "
      .. "ssl_certificate_key %s/%s; return 200; }"):format(sv.port, dir, sv.cert, dir,
        sv.cert == "cert" and "key.pem" or "old.key")
      or ("server { listen 127.0.0.1:%d; return 200; }"):format(sv.port)
  end
  testenv.write_file(dir .. "/nginx.conf", ("daemon off; pid %s/nginx.pid; error_log %s/error.log;\nevents {}\n"
    .. "http { access_log off; client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s; "
    .. "uwsgi_temp_path %s; scgi_temp_path %s;\n%s\n}\n"):format(dir, dir, dir, dir, dir, dir, dir,
      table.concat(conf, "\n")))
  bg("timeout 60 nginx -e " .. dir .. "/error.log -c " .. dir .. "/nginx.conf")
  for _, sv in ipairs(servers) do
    assert(testenv.wait_listening(netns(), "tcp", sv.port))
  end
end

-- Skips the test unless nothing listens on a well-known port in any
-- namespace: diagnose would report the listener there (other-netns).
local function needs_free(p)
  local holders = testenv.port_holders(p)
  if #holders > 0 then
    pending(("port %d is taken in another network namespace (%s): diagnose would report other-netns"):format(p,
      holders[1]))
  end
end

-- Runs diagnose.lua --json inside the namespace; returns the document, the
-- findings by id, and the raw result.
local function diagnose(args, opts)
  local full = { "diagnose.lua", "--json" }
  for _, a in ipairs(args) do
    full[#full + 1] = a
  end
  local parts = {}
  for _, a in ipairs(full) do
    parts[#parts + 1] = q(a)
  end
  local cmd = (opts and opts.prefix or "") .. q(testenv.bin) .. " " .. table.concat(parts, " ")
  local r = testenv.sh(testenv.in_netns((opts and opts.ns) or netns(), cmd))
  local doc, by_id = testenv.report(r)
  return doc, by_id, r
end

-- Whether the run's checks include one of this name.
local function ran_check(doc, name)
  for _, c in ipairs(doc.checks or {}) do
    if c.name == name then
      return true
    end
  end
  return false
end

local function text_of(f)
  return dkjson.encode(f)
end

describe("diagnose.lua", function()
  netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { prepare = function()
    base = testenv.port_block()
  end })

  it("reachable: names the accepting process (python3 -m http.server)", function()
    bg("timeout 60 python3 -m http.server " .. port(80) .. " --bind 127.0.0.1")
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal(0, r.code)
    assert.equal("reachable", doc.verdict)
    assert.equal("ok", f.reachable.severity)
    assert.matches("python3 %(pid %d+%)", f.reachable.summary)
    assert.is_nil(f["family-mismatch"])
  end)

  it("no-listener, and no port-mismatch when no port is near", function()
    listen(port(999))
    local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal(1, r.code)
    assert.equal("no-listener", doc.verdict)
    assert.is_nil(f["port-mismatch"])
    assert.matches("refused", text_of(f["no-listener"]))
    -- as root, no check can use an owner here: the walk of every process's fds is skipped
    if testenv.is_root() then
      assert.is_true(ran_check(doc, "listeners, all namespaces"))
      assert.is_false(ran_check(doc, "listeners, all namespaces, with owners"))
    end
  end)

  it("udp-only: nothing listens on the TCP port, a UDP socket holds it; the holder is named", function()
    bg("timeout 60 socat -u UDP4-RECV:" .. port(93) .. ",bind=127.0.0.1 /dev/null")
    assert(testenv.wait_listening(netns(), "udp", port(93)))
    local doc, f, r = diagnose { "127.0.0.1:" .. port(93) }
    assert.equal(1, r.code)
    assert.equal("udp-only", doc.verdict)
    assert.is_nil(f["no-listener"])
    assert.matches("UDP port " .. port(93) .. " is bound by socat %(pid %d+%)", f["udp-only"].summary)
    assert.matches("127%.0%.0%.1:" .. port(93) .. " held by socat", text_of(f["udp-only"]))
    assert.matches("cr.probe.udp", f["udp-only"].fix, 1, true)
  end)

  -- a UDP socket bound as given, on port(93), against the target 127.0.0.1:port(93)
  local function diagnose_beside_udp(socat_addr)
    bg("timeout 60 socat -u " .. socat_addr:format(port(93)) .. " /dev/null")
    assert(testenv.wait_listening(netns(), "udp", port(93)))
    return diagnose { "127.0.0.1:" .. port(93) }
  end

  it("udp-only: a UDP socket on 127.0.0.2 does not serve 127.0.0.1; it is evidence only", function()
    local doc, f = diagnose_beside_udp("UDP4-RECV:%d,bind=127.0.0.2")
    assert.equal("no-listener", doc.verdict)
    assert.is_nil(f["udp-only"])
    assert.matches("127.0.0.2:" .. port(93), text_of(f["no-listener"]), 1, true)
  end)

  it("udp-only: a UDP socket on 0.0.0.0 serves 127.0.0.1", function()
    local doc, f = diagnose_beside_udp("UDP4-RECV:%d,bind=0.0.0.0")
    assert.equal("udp-only", doc.verdict)
    assert.matches("0.0.0.0:" .. port(93), text_of(f["udp-only"]), 1, true)
  end)

  it("udp-only: a dual-stack [::] UDP socket serves 127.0.0.1", function()
    local doc, f = diagnose_beside_udp("UDP6-RECV:%d,bind=[::],ipv6only=0")
    assert.equal("udp-only", doc.verdict)
    assert.matches("dual-stack", text_of(f["udp-only"]), 1, true)
  end)

  it("udp-only: a UDP socket on ::1 (v6only) does not serve 127.0.0.1", function()
    local doc, f = diagnose_beside_udp("UDP6-RECV:%d,bind=[::1],ipv6only=1")
    assert.equal("no-listener", doc.verdict)
    assert.is_nil(f["udp-only"])
    assert.matches("[::1]:" .. port(93), text_of(f["no-listener"]), 1, true)
  end)

  it("a UDP socket in another namespace does not make the TCP port a UDP one", function()
    local other = testenv.netns()
    bg("timeout 60 socat -u UDP4-RECV:" .. port(94) .. ",bind=127.0.0.1 /dev/null", other)
    assert(testenv.wait_listening(other, "udp", port(94)))
    local doc, f = diagnose { "127.0.0.1:" .. port(94) }
    assert.equal("no-listener", doc.verdict)
    assert.is_nil(f["udp-only"])
  end)

  it("port-mismatch as a warning beside no-listener for a port that looks like a typo", function()
    listen(port(81))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("no-listener", doc.verdict)
    assert.equal("warn", f["port-mismatch"].severity)
    assert.matches("socat %(pid %d+%)", f["port-mismatch"].summary)
    assert.matches("127%.0%.0%.1:" .. port(81), f["port-mismatch"].fix)
  end)

  it("shows where the near port's owner sets it: its command line and PORT= in its environment", function()
    bg("env PORT=" .. port(81) .. " timeout 60 python3 -m http.server --bind 127.0.0.1 " .. port(81))
    assert(testenv.wait_listening(netns(), "tcp", port(81)))
    local _, f = diagnose { "127.0.0.1:" .. port(80) }
    local text = text_of(f["port-mismatch"])
    assert.matches("environment: PORT=" .. port(81), text)
    assert.matches("python3 %(pid %d+%)", f["port-mismatch"].summary)
  end)

  it("port-mismatch as the verdict when the usual program listens elsewhere (redis-server)", function()
    if not testenv.have("redis-server") then
      return pending("redis-server not installed")
    end
    needs_free(6379)
    local dir = testenv.tmpdir()
    bg(("timeout 60 redis-server --port 6380 --bind 127.0.0.1 --save '' --dir %s"):format(dir))
    assert(testenv.wait_listening(netns(), "tcp", 6380))
    local doc, f = diagnose { "redis://127.0.0.1" }
    assert.equal("port-mismatch", doc.verdict)
    assert.equal("error", f["port-mismatch"].severity)
    assert.matches("redis%-server %(pid %d+%) listens on port 6380, not 6379", f["port-mismatch"].summary)
    -- redis rewrites its title to "redis-server 127.0.0.1:6380"
    assert.matches("cmdline: 127%.0%.0%.1:6380", text_of(f["port-mismatch"]))
  end)

  it("port-mismatch names nginx (from a config written here) listening on 8088 instead of 80", function()
    if not testenv.have("nginx") then
      return pending("nginx not installed")
    end
    needs_free(80)
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/nginx.conf", ([[
daemon off; pid %s/nginx.pid; error_log %s/error.log;
events { worker_connections 16; }
http { access_log off; client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;
  uwsgi_temp_path %s; scgi_temp_path %s; server { listen 127.0.0.1:8088; return 200; } }
]]):format(dir, dir, dir, dir, dir, dir, dir))
    bg("timeout 60 nginx -c " .. dir .. "/nginx.conf")
    assert(testenv.wait_listening(netns(), "tcp", 8088))
    local doc, f = diagnose { "http://127.0.0.1/" }
    assert.equal("port-mismatch", doc.verdict)
    assert.matches("nginx %(pid %d+%) listens on port 8088, not 80", f["port-mismatch"].summary)
    assert.matches("http://127%.0%.0%.1:8088/", f["port-mismatch"].fix)
  end)

  it("service-not-running for --process when it does not run", function()
    local doc, f = diagnose { "127.0.0.1:" .. port(555), "--process", "no-such-daemon" }
    assert.equal("service-not-running", doc.verdict)
    assert.matches("no%-such%-daemon is not running", f["service-not-running"].summary)
  end)

  it("a --process that runs in another network namespace is not service-not-running", function()
    local other = testenv.netns()
    local dir = testenv.tmpdir()
    assert(os.execute("cp /bin/sleep " .. dir .. "/crdaemon-elsewhere"))
    bg("timeout 60 " .. dir .. "/crdaemon-elsewhere 30", other)
    -- ours, in that namespace: pgrep would also see another run's crdaemon-elsewhere
    assert(testenv.wait_for(function()
      local comms = testenv.sh("for p in $(ip netns pids " .. other .. "); do cat /proc/$p/comm; done 2>/dev/null")
      return ("\n" .. comms.stdout):find("\ncrdaemon-elsewh\n", 1, true) ~= nil
    end), "crdaemon-elsewhere did not start in its namespace")
    local doc, f = diagnose { "127.0.0.1:" .. port(556), "--process", "crdaemon-elsewhere" }
    assert.not_equal("service-not-running", doc.verdict, text_of(doc.findings))
    assert.is_nil(f["service-not-running"])
  end)

  it("starting-up when the expected process started seconds ago and does not listen yet", function()
    bg("timeout 60 python3 -c 'import time; time.sleep(30)'")
    -- ours, in this namespace: pgrep would also see other specs' python3
    assert(testenv.wait_for(function()
      local comms = testenv.sh("for p in $(ip netns pids " .. netns() .. "); do cat /proc/$p/comm; done 2>/dev/null")
      return ("\n" .. comms.stdout):find("\npython3\n") ~= nil
    end), "python3 did not start in the test namespace")
    local doc, f = diagnose { "127.0.0.1:" .. port(556), "--process", "python3" }
    assert.equal("starting-up", doc.verdict)
    assert.matches("waitfor", f["starting-up"].fix)
  end)

  it("address-mismatch: the listener is bound to another address of the family", function()
    listen(port(80), "127.0.0.2")
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("address-mismatch", doc.verdict)
    assert.matches("127%.0%.0%.2", f["address-mismatch"].summary)
    assert.matches("socat", text_of(f["address-mismatch"]))
  end)

  it("family-mismatch: the listener is on ::1 only, the target is IPv4", function()
    listen(port(80), "::1")
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("family-mismatch", doc.verdict)
    assert.matches("IPv6 only", f["family-mismatch"].summary)
    assert.matches("%[::1%]:" .. port(80), f["family-mismatch"].fix)
  end)

  it("family-mismatch: a [::] listener with IPV6_V6ONLY does not take IPv4", function()
    listen(port(80), "::", ",ipv6only=1")
    local doc = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("family-mismatch", doc.verdict)
  end)

  it("a dual-stack [::] listener (v6only off) probed at 127.0.0.1 is reachable with no mismatch", function()
    listen(port(80), "::", ",ipv6only=0")
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("reachable", doc.verdict)
    assert.is_nil(f["family-mismatch"])
    assert.is_nil(f["address-mismatch"])
  end)

  it("family-mismatch as a warning when localhost resolves to ::1 first but only IPv4 listens", function()
    testenv.netns_etc(netns(), { hosts = "::1 localhost\n127.0.0.1 localhost\n", ["nsswitch.conf"] = "hosts: files\n" })
    listen(port(80), "127.0.0.1")
    local doc, f = diagnose { "localhost:" .. port(80) }
    assert.equal("reachable", doc.verdict)
    assert.equal("warn", f["family-mismatch"].severity)
    assert.matches("%[::1%]:" .. port(80), f["family-mismatch"].summary)
  end)

  it("localhost with both families and a listener on 127.0.0.2 is an address question, not a family one", function()
    testenv.netns_etc(netns(), { hosts = "::1 localhost\n127.0.0.1 localhost\n", ["nsswitch.conf"] = "hosts: files\n" })
    listen(port(82), "127.0.0.2")
    local doc, f = diagnose { "localhost:" .. port(82) }
    assert.equal("address-mismatch", doc.verdict)
    assert.is_nil(f["family-mismatch"])
    assert.matches("127%.0%.0%.2:" .. port(82), f["address-mismatch"].fix)
  end)

  it("a wildcard target (0.0.0.0) is this host, not a remote one", function()
    listen(port(81))
    local doc, f = diagnose { "0.0.0.0:" .. port(80) }
    assert.equal("no-listener", doc.verdict)
    assert.equal("warn", f["port-mismatch"].severity)
  end)

  it("a missing abstract Unix socket is missing, not stale", function()
    local doc = diagnose { "unix:@crtest-nothing-here" }
    assert.equal("unix-socket-missing", doc.verdict)
  end)

  it("does not show a URL's password", function()
    local _, _, r = diagnose { "http://alice:s3cret@127.0.0.1:" .. port(80) .. "/x" }
    assert.not_matches("s3cret", r.stdout)
    assert.matches('"url":"http://127%.0%.0%.1:' .. port(80) .. '/x"', r.stdout)
  end)

  it("other-netns: nothing here, a listener in a second namespace is named", function()
    local other = testenv.netns()
    bg("timeout 60 socat TCP4-LISTEN:" .. port(80) .. ",bind=127.0.0.1,reuseaddr,fork SYSTEM:true", other)
    assert(testenv.wait_listening(other, "tcp", port(80)))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("other-netns", doc.verdict)
    assert.matches("socat %(pid %d+%)", f["other-netns"].summary)
    assert.is_true(ran_check(doc, "listeners, all namespaces, with owners")) -- one is on the port
    assert.matches(other, f["other-netns"].summary, 1, true)
  end)

  it("firewall-reject: a listener exists and an iptables REJECT rule refuses; the rule is quoted", function()
    listen(port(80))
    sh_ns("iptables -A INPUT -p tcp --dport " .. port(80) .. " -j REJECT --reject-with tcp-reset")
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("firewall-reject", doc.verdict)
    assert.matches("%-%-dport " .. port(80), text_of(f["firewall-reject"]))
    assert.matches("iptables %-t filter %-D INPUT", f["firewall-reject"].fix)
  end)

  it("firewall-check-incomplete as nobody: rules it cannot read are unread, not 'no rule explains it'", function()
    if not testenv.have("setpriv") then
      return pending("setpriv not installed")
    end
    listen(port(80))
    sh_ns("iptables -A INPUT -p tcp --dport " .. port(80) .. " -j REJECT --reject-with tcp-reset")
    local doc, f, r = diagnose({ "127.0.0.1:" .. port(80) },
      { prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups " })
    assert.equal(1, r.code)
    assert.equal("firewall-check-incomplete", doc.verdict)
    assert.is_nil(f["firewall-reject"])
    assert.matches("could not be read %(permission denied%)", f["firewall-check-incomplete"].summary)
    assert.matches("run as root", f["firewall-check-incomplete"].fix)
  end)

  it("--save-facts writes what was read, and --from-facts replays the same verdict without reading", function()
    listen(port(80), "127.0.0.2")
    local file = testenv.tmpdir() .. "/facts.json"
    local doc = diagnose { "127.0.0.1:" .. port(80), "--save-facts", file }
    assert.equal("address-mismatch", doc.verdict)
    local saved = dkjson.decode(assert(testenv.read_file(file)))
    assert.equal(1, saved.schema)
    assert.equal(port(80), saved.args.target.port)
    -- replayed outside the namespace, where nothing listens on that port at all
    local r = testenv.sh(q(testenv.bin) .. " diagnose.lua --json --from-facts " .. q(file))
    local again = dkjson.decode(r.stdout)
    assert.equal(1, r.code, r.stderr)
    assert.equal("address-mismatch", again.verdict)
    assert.same(doc.findings, again.findings)
    assert.equal("127.0.0.1:" .. port(80), again.target.display)
  end)

  it("--save-facts writes a 0600 file and never through a link (the facts hold command lines)", function()
    listen(port(80))
    local dir = testenv.tmpdir()
    local file = dir .. "/facts.json"
    diagnose { "127.0.0.1:" .. port(80), "--save-facts", file }
    assert.equal("600", testenv.sh("stat -c %a " .. q(file)).stdout:match("%d+"))
    testenv.write_file(dir .. "/precious", "keep me")
    assert(testenv.sh("ln -s " .. q(dir .. "/precious") .. " " .. q(dir .. "/link")).code == 0)
    local r = testenv.sh(testenv.in_netns(netns(), q(testenv.bin) .. " diagnose.lua 127.0.0.1:" .. port(80)
      .. " --save-facts " .. q(dir .. "/link")))
    assert.equal(2, r.code, r.stderr)
    assert.matches("^connrecipe: diagnose: %-%-save%-facts: cannot write [^\n]*link: a symbolic link %(not followed%)",
      r.stderr)
    assert.equal("keep me", testenv.read_file(dir .. "/precious"))
  end)

  it("--from-facts: a missing or malformed file, or a TARGET beside it, is a one-line usage error", function()
    netns()
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/bad.json", "{")
    for _, args in ipairs { { "--from-facts", dir .. "/none.json" }, { "--from-facts", dir .. "/bad.json" },
                            { "127.0.0.1:1", "--from-facts", dir .. "/bad.json" }, {} } do
      local parts = {}
      for _, a in ipairs(args) do
        parts[#parts + 1] = q(a)
      end
      local r = testenv.sh(q(testenv.bin) .. " diagnose.lua " .. table.concat(parts, " "))
      assert.equal(2, r.code, r.stderr)
      assert.equal("", r.stdout)
      assert.matches("^connrecipe: diagnose: [^\n]+ %(see 'connrecipe diagnose %-%-help'%)\n$", r.stderr)
    end
  end)

  it("firewall-reject for icmp-admin-prohibited (nft)", function()
    listen(port(80))
    nft_input("tcp dport " .. port(80) .. " reject with icmpx type admin-prohibited")
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("firewall-reject", doc.verdict)
    assert.matches("nft delete rule inet crtest in handle %d+", f["firewall-reject"].fix)
  end)

  it("firewall-drop: timeout while a listener with room exists; the nft rule is quoted", function()
    listen(port(80))
    nft_input("tcp dport " .. port(80) .. " drop")
    local doc, f = diagnose { "127.0.0.1:" .. port(80), "--timeout", "0.5" }
    assert.equal("firewall-drop", doc.verdict)
    assert.matches("tcp dport " .. port(80) .. " drop", text_of(f["firewall-drop"]))
  end)

  it("backlog-full: the owner never calls accept and its queue is full; the owner is named", function()
    listen_never_accepting(port(90), 1)
    -- fill the accept queue (backlog 1 holds 2) with clients that stay connected
    for _ = 1, 3 do
      bg("timeout 30 socat TCP4:127.0.0.1:" .. port(90) .. ",connect-timeout=1 SYSTEM:'sleep 30'")
    end
    os.execute("sleep 0.5")
    local doc, f = diagnose { "127.0.0.1:" .. port(90), "--timeout", "0.5" }
    assert.equal("backlog-full", doc.verdict)
    assert.matches("python3 %(pid %d+%)", f["backlog-full"].summary)
  end)

  it("backlog-full: the listener the kernel picks (the specific address, not a wildcard beside it) is judged",
    function()
    -- SO_REUSEPORT lets 0.0.0.0:p (room in its queue) and 127.0.0.1:p (full)
    -- listen together; a connect to 127.0.0.1 goes to the specific one
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/two.py", ("import socket,time\nls=[]\n"
      .. "for a,b in (('0.0.0.0',128),('127.0.0.1',0)):\n"
      .. "  s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEPORT,1)\n"
      .. "  s.bind((a,%d)); s.listen(b); ls.append(s)\n"
      .. "time.sleep(60)\n"):format(port(97)))
    bg("timeout 60 python3 " .. dir .. "/two.py")
    assert(testenv.wait_for(function()
      return #testenv.sh(testenv.in_netns(netns(), "ss -Htln sport = :" .. port(97))).stdout:gsub("[^\n]", "") >= 2
    end))
    bg("timeout 30 socat TCP4:127.0.0.1:" .. port(97) .. " SYSTEM:'sleep 30'") -- backlog 0 holds 1: now full
    assert(testenv.wait_for(function()
      return testenv.sh(testenv.in_netns(netns(), "ss -Htln src 127.0.0.1:" .. port(97))).stdout:match("^%S+%s+1%s")
    end))
    local doc, f = diagnose { "127.0.0.1:" .. port(97), "--timeout", "0.5" }
    assert.equal("backlog-full", doc.verdict, text_of(doc.findings))
    assert.matches("127.0.0.1:" .. port(97), f["backlog-full"].summary, 1, true)
  end)

  it("firewall-drop is the verdict when the queue is full as well; backlog-full is a warning beside it", function()
    listen_never_accepting(port(90), 0)
    bg("timeout 30 socat TCP4:127.0.0.1:" .. port(90) .. " SYSTEM:'sleep 30'") -- backlog 0 holds 1: now full
    assert(testenv.wait_for(function()
      return testenv.sh(testenv.in_netns(netns(), "ss -Htln sport = :" .. port(90))).stdout:match("^%S+%s+1%s")
    end))
    nft_input("tcp dport " .. port(90) .. " drop") -- after the queue filled: its client got in first
    local doc, f = diagnose { "127.0.0.1:" .. port(90), "--timeout", "0.5" }
    assert.equal("firewall-drop", doc.verdict, text_of(doc.findings))
    assert.matches("tcp dport " .. port(90) .. " drop", text_of(f["firewall-drop"]))
    assert.equal("warn", f["backlog-full"].severity)
    assert.matches("python3 %(pid %d+%)", f["backlog-full"].summary)
  end)

  it("another listener's overflows during the probe do not make this one's queue full", function()
    -- port(95): its queue is full and clients keep knocking, so the namespace's
    -- ListenOverflows grows all through the probe of port(96), which has room but
    -- whose SYNs an nft rule drops
    listen_never_accepting(port(95), 0)
    bg("timeout 30 socat TCP4:127.0.0.1:" .. port(95) .. " SYSTEM:'sleep 30'") -- backlog 0 holds 1: now full
    assert(testenv.wait_for(function()
      return testenv.sh(testenv.in_netns(netns(), "ss -Htln sport = :" .. port(95))).stdout:match("^%S+%s+1%s")
    end))
    bg("timeout 30 sh -c 'while :; do socat -u /dev/null TCP4:127.0.0.1:" .. port(95)
      .. ",connect-timeout=0.1; done'")
    listen(port(96))
    nft_input("tcp dport " .. port(96) .. " drop")
    local doc, f = diagnose { "127.0.0.1:" .. port(96), "--timeout", "0.5" }
    assert.equal("firewall-drop", doc.verdict)
    assert.is_nil(f["backlog-full"])
    -- the counter did grow: the test would pass vacuously otherwise
    local counters = sh_ns("nstat -az TcpExtListenOverflows").stdout
    assert.matches("TcpExtListenOverflows%s+[1-9]", counters)
  end)

  it("stale-unix-socket: the file exists, nobody listens", function()
    local dir = testenv.tmpdir()
    local code = "import socket; s=socket.socket(socket.AF_UNIX); s.bind('" .. dir .. "/app.sock')"
    sh_ns("python3 -c " .. q(code)) -- binds, then exits without removing the file
    local doc, f, r = diagnose { "unix:" .. dir .. "/app.sock" }
    assert.equal(1, r.code)
    assert.equal("stale-unix-socket", doc.verdict)
    assert.matches("rm " .. dir, f["stale-unix-socket"].fix, 1, true)
  end)

  it("unix-socket-missing suggests a listening socket with a similar name", function()
    local dir = testenv.tmpdir()
    bg(("timeout 60 socat UNIX-LISTEN:%s/redis-server.sock,fork SYSTEM:true"):format(dir))
    assert(testenv.wait_for(function()
      return testenv.sh("test -S " .. dir .. "/redis-server.sock").code == 0
    end))
    local doc, f = diagnose { dir .. "/redis.sock" }
    assert.equal("unix-socket-missing", doc.verdict)
    assert.matches("redis%-server%.sock held by socat", text_of(f["unix-socket-missing"]))
  end)

  it("permission-denied for a Unix socket of mode 000, probed as nobody", function()
    if not testenv.have("setpriv") then
      return pending("setpriv not installed")
    end
    local dir = testenv.tmpdir()
    os.execute("chmod 755 " .. dir)
    bg(("timeout 60 socat UNIX-LISTEN:%s/locked.sock,mode=000,fork SYSTEM:true"):format(dir))
    assert(testenv.wait_for(function()
      return testenv.sh("test -S " .. dir .. "/locked.sock").code == 0
    end))
    local doc, f = diagnose({ "unix:" .. dir .. "/locked.sock" },
      { prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups " })
    assert.equal("permission-denied", doc.verdict)
    assert.matches("s%-%-%-%-%-%-%-%-%-", text_of(f["permission-denied"]))
  end)

  it("name-unresolved: names the EAI reason and where the lookup went", function()
    testenv.netns_etc(netns(), { hosts = "127.0.0.1 localhost\n", ["nsswitch.conf"] = "hosts: files\n" })
    local doc, f, r = diagnose { "no-such-host.test:80" }
    assert.equal(1, r.code)
    assert.equal("name-unresolved", doc.verdict)
    assert.matches("EAI_NONAME", f["name-unresolved"].summary)
    assert.matches("nsswitch hosts: files", text_of(f["name-unresolved"]))
  end)

  it("proxy-env: an http URL would go to an unreachable proxy", function()
    bg("timeout 60 python3 -m http.server " .. port(80) .. " --bind 127.0.0.1")
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    local doc, f = diagnose({ "http://127.0.0.1:" .. port(80) .. "/" },
      { prefix = "env http_proxy=http://127.0.0.1:3128 " })
    assert.equal("proxy-env", doc.verdict)
    assert.equal("error", f["proxy-env"].severity)
    assert.matches("no_proxy", f["proxy-env"].fix)
    assert.equal("ok", f.reachable.severity)
  end)

  it("ephemeral-ports-exhausted: one local port, already used towards the target", function()
    listen(port(80), nil, nil, "SYSTEM:'sleep 30'") -- holds each connection open
    sh_ns("sysctl -qw net.ipv4.ip_local_port_range='40000 40000'")
    bg("timeout 30 socat TCP4:127.0.0.1:" .. port(80) .. " SYSTEM:'sleep 30'")
    assert(testenv.wait_for(function()
      local established = "ss -Htn state established '( dport = :" .. port(80) .. " )'"
      return testenv.sh(testenv.in_netns(netns(), established)).stdout:match("%S")
    end))
    local doc = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("ephemeral-ports-exhausted", doc.verdict)
  end)

  it("ipv6-disabled: the target is IPv6 and IPv6 is off in this namespace", function()
    sh_ns("sysctl -qw net.ipv6.conf.all.disable_ipv6=1")
    sh_ns("sysctl -qw net.ipv6.conf.lo.disable_ipv6=1")
    local doc, f = diagnose { "[::1]:" .. port(80) }
    assert.equal("ipv6-disabled", doc.verdict)
    assert.matches("disable_ipv6=0", f["ipv6-disabled"].fix)
  end)

  it("owner-unknown: run as nobody, the root-owned listener's owner cannot be seen", function()
    if not testenv.have("setpriv") then
      return pending("setpriv not installed")
    end
    listen(port(80), "127.0.0.2")
    local doc, f = diagnose({ "127.0.0.1:" .. port(80) },
      { prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups " })
    assert.equal("address-mismatch", doc.verdict)
    assert.equal("info", f["owner-unknown"].severity)
    assert.matches("run as root", f["owner-unknown"].fix)
  end)

  it("listener-check-incomplete beside no-listener: as nobody, a namespace without processes cannot be read",
    function()
      if not testenv.have("setpriv") then
        return pending("setpriv not installed")
      end
      local other = testenv.netns() -- nothing runs in it: without privilege there is no way in
      local nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups "
      local doc, f, r = diagnose({ "127.0.0.1:" .. port(97) }, { prefix = nobody })
      assert.equal(1, r.code)
      assert.equal("no-listener", doc.verdict)
      local gap = f["listener-check-incomplete"]
      assert.equal("warn", gap.severity)
      assert.matches("other network namespace", gap.summary)
      assert.matches("netns " .. other .. ": Operation not permitted", text_of(gap), 1, true)
      assert.matches("run as root", gap.fix)
    end)

  it("listener-check-incomplete as nobody: a root process's unnamed namespace with the listener is not even listed",
    function()
      if not testenv.have("setpriv") then
        return pending("setpriv not installed")
      end
      -- a namespace of its own (no /run/netns name), a root-owned listener in it
      local p = port(80)
      testenv.background("unshare -n sh -c " .. q("ip link set lo up && exec timeout 60 socat TCP4-LISTEN:" .. p
        .. ",bind=127.0.0.1,reuseaddr,fork SYSTEM:true"))
      assert(testenv.wait_for(function()
        return #testenv.port_holders(p) > 0
      end), "the listener in the unnamed namespace did not start")
      local doc = diagnose { "127.0.0.1:" .. p } -- as root: found
      assert.equal("other-netns", doc.verdict)
      local nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups "
      local f, r
      doc, f, r = diagnose({ "127.0.0.1:" .. p }, { prefix = nobody })
      assert.equal(1, r.code)
      assert.equal("no-listener", doc.verdict)
      local gap = f["listener-check-incomplete"]
      assert.equal("warn", gap.severity)
      assert.matches("process%(es%) of other users", gap.summary)
      assert.matches("of other users: Permission denied %(not root%)", text_of(gap))
      assert.matches("run as root", gap.fix)
    end)

  it("listener-check-incomplete as nobody under hidepid: other users' processes are not even listed", function()
    if not testenv.have("setpriv") then
      return pending("setpriv not installed")
    end
    local p = port(81)
    testenv.background("unshare -n sh -c " .. q("ip link set lo up && exec timeout 60 socat TCP4-LISTEN:" .. p
      .. ",bind=127.0.0.1,reuseaddr,fork SYSTEM:true"))
    assert(testenv.wait_for(function()
      return #testenv.port_holders(p) > 0
    end), "the listener in the unnamed namespace did not start")
    -- a private /proc with hidepid=2: root's processes are invisible to nobody
    local realproc = testenv.tmpdir()
    local prefix = "unshare -m --propagation private sh -c "
      .. q("chmod 755 " .. realproc .. " && mount --bind /proc " .. realproc
        .. " && mount -t proc -o hidepid=2 proc /proc && exec \"$@\"")
      .. " sh setpriv --reuid=65534 --regid=65534 --clear-groups "
    local doc, f = diagnose({ "127.0.0.1:" .. p }, { prefix = prefix })
    assert.equal("no-listener", doc.verdict)
    local gap = f["listener-check-incomplete"]
    assert(gap, "no listener-check-incomplete: " .. text_of(doc.findings))
    assert.matches("hidepid", text_of(gap))
  end)

  it("no listener-check-incomplete as root, when every namespace could be read", function()
    testenv.netns()
    local doc, f = diagnose { "127.0.0.1:" .. port(97) }
    assert.equal("no-listener", doc.verdict)
    assert.is_nil(f["listener-check-incomplete"])
  end)

  -- This namespace's tables unreadable for real: netlink off (the /proc/net
  -- fallback), and, in a private mount namespace, a /proc whose net/tcp,
  -- net/tcp6 and net/unix exist with mode 000, read as nobody (EACCES).
  -- /proc/self still leads to the real procfs (bound aside first): the
  -- sanitizers read /proc/self/maps at start-up.
  local function unreadable_tables()
    local realproc = testenv.tmpdir()
    return "unshare -m --propagation private sh -c "
      .. q("chmod 755 " .. realproc .. " && mount --bind /proc " .. realproc
        .. " && mount -t tmpfs none /proc && ln -s " .. realproc .. "/self /proc/self"
        .. " && mkdir -p /proc/thread-self/net && cd /proc/thread-self/net && "
        .. ": >tcp && : >tcp6 && : >unix && chmod 000 tcp tcp6 unix && exec \"$@\"")
      .. " sh env CONNRECIPE_SOCK_DIAG=off setpriv --reuid=65534 --regid=65534 --clear-groups "
  end

  it("listener-check-incomplete as the verdict, not no-listener, when this namespace's tables cannot be read",
    function()
      if not testenv.have("setpriv") then
        return pending("setpriv not installed")
      end
      local doc, f, r = diagnose({ "127.0.0.1:" .. port(97) }, { prefix = unreadable_tables() })
      assert.equal(1, r.code)
      assert.equal("listener-check-incomplete", doc.verdict)
      assert.equal("error", f["listener-check-incomplete"].severity)
      assert.matches("what listens on it is unknown", f["listener-check-incomplete"].summary)
      assert.matches("Permission denied", f["listener-check-incomplete"].summary)
      assert.matches("127%.0%.0%.1:" .. port(97) .. ": refused", text_of(f["listener-check-incomplete"]))
      assert.is_nil(f["no-listener"])
    end)

  it("process-check-incomplete, not service-not-running, when /proc shows no process at all", function()
    -- as root, in a private mount namespace whose /proc is an empty tmpfs
    -- (/proc/self still leads to the real one, bound aside): sock_diag reads the
    -- tables, but no process can be seen, this one included
    local realproc = testenv.tmpdir()
    local blind = "unshare -m --propagation private sh -c "
      .. q("chmod 755 " .. realproc .. " && mount --bind /proc " .. realproc
        .. " && mount -t tmpfs none /proc && ln -s " .. realproc .. "/self /proc/self && exec \"$@\"") .. " sh "
    local doc, f, r = diagnose({ "127.0.0.1:" .. port(97), "--process", "crtest-nosuchd" }, { prefix = blind })
    assert.equal(1, r.code, r.stderr)
    assert.equal("no-listener", doc.verdict)
    assert.is_nil(f["service-not-running"])
    local gap = f["process-check-incomplete"]
    assert.equal("warn", gap.severity)
    assert.matches("cannot tell whether crtest%-nosuchd is running", gap.summary)
    assert.matches("the process list is not visible", gap.summary)
    -- with the real /proc, the same run says it is not running
    doc, f = diagnose({ "127.0.0.1:" .. port(97), "--process", "crtest-nosuchd" })
    assert.equal("service-not-running", doc.verdict)
    assert.is_nil(f["process-check-incomplete"])
  end)

  it("process-check-incomplete as nobody under hidepid=2: a root process it cannot see may be the one", function()
    if not (testenv.have("setpriv") and testenv.have("unshare")) then
      return pending("setpriv and unshare needed")
    end
    -- a private /proc in new mount and pid namespaces, remounted hidepid=2; a
    -- root-owned sleep runs there, invisible to nobody
    local hidden = "unshare -m -p -f --mount-proc sh -c "
      .. q("mount -o remount,hidepid=2 /proc && { sleep 60 & } && exec \"$@\"")
      .. " sh setpriv --reuid=65534 --regid=65534 --clear-groups "
    local doc, f, r = diagnose({ "127.0.0.1:" .. port(97), "--process", "sleep" }, { prefix = hidden })
    assert.equal(1, r.code, r.stderr)
    assert.equal("no-listener", doc.verdict)
    assert.is_nil(f["service-not-running"])
    local gap = f["process-check-incomplete"]
    assert.equal("warn", gap.severity)
    assert.matches("other users' processes are hidden", gap.summary)
    assert.matches("hidepid=", gap.summary)
  end)

  it("unix-socket-missing says the listening Unix sockets could not be read, not that none is similar", function()
    if not testenv.have("setpriv") then
      return pending("setpriv not installed")
    end
    local doc, f = diagnose({ "unix:/tmp/crtest-no-such-dir/app.sock" }, { prefix = unreadable_tables() })
    assert.equal("unix-socket-missing", doc.verdict)
    assert.matches("could not be read %(Permission denied%)", text_of(f["unix-socket-missing"]))
  end)

  it("remote-refused, remote-timeout and host-unreachable for an address in another namespace", function()
    local far = testenv.netns()
    local veth = "crv" .. math.random(10000, 99999)
    assert(os.execute(("ip link add %s type veth peer name %sp"):format(veth, veth)))
    assert(os.execute(("ip link set %s netns %s && ip link set %sp netns %s"):format(veth, netns(), veth, far)))
    sh_ns(("sh -c 'ip addr add 10.213.7.1/24 dev %s && ip link set %s up'"):format(veth, veth))
    sh_ns(("sh -c 'ip addr add 10.213.7.2/24 dev %sp && ip link set %sp up'"):format(veth, veth), far)
    local doc = diagnose { "10.213.7.2:" .. port(80) }
    assert.equal("remote-refused", doc.verdict)
    sh_ns("iptables -A INPUT -p tcp --dport " .. port(81) .. " -j DROP", far)
    doc = diagnose { "10.213.7.2:" .. port(81), "--timeout", "0.5" }
    assert.equal("remote-timeout", doc.verdict)
    sh_ns("iptables -A INPUT -p tcp --dport " .. port(82) .. " -j REJECT --reject-with icmp-host-unreachable", far)
    doc = diagnose { "10.213.7.2:" .. port(82) }
    assert.equal("host-unreachable", doc.verdict)
  end)

  -- A veth pair made inside this test's namespace (10.213.9.1 on crdev0) and
  -- a socat listener on 0.0.0.0:p bound to crdev0 (SO_BINDTODEVICE).
  local function listen_bound_to_device(p)
    sh_ns("sh -c 'ip link add crdev0 type veth peer name crdev1 && ip addr add 10.213.9.1/24 dev crdev0 "
      .. "&& ip link set crdev0 up && ip link set crdev1 up'")
    listen(p, "0.0.0.0", ",so-bindtodevice=crdev0")
  end

  it("bound-to-device: a listener bound to a veth refuses a loopback client; names the device", function()
    listen_bound_to_device(port(80))
    assert.equal(0, sh_ns("socat -u OPEN:/dev/null TCP4:10.213.9.1:" .. port(80)).code) -- it does listen
    local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal(1, r.code)
    assert.equal("bound-to-device", doc.verdict)
    assert.is_nil(f["firewall-reject"])
    assert.is_nil(f["refused-unexplained"])
    local b = f["bound-to-device"]
    assert.matches("socat %(pid %d+%) listens bound to device crdev0", b.summary)
    assert.matches("arrives on lo", b.summary, 1, true)
    assert.matches("0.0.0.0%crdev0:" .. port(80), text_of(b), 1, true)
    assert.matches("connect to 10.213.9.1:" .. port(80) .. " (an address on crdev0)", b.fix, 1, true)
    -- listeners shows the device as ss does, in the table and as a JSON field
    local lr = testenv.run_in_netns(netns(), { "listeners.lua", "--proto", "tcp", "--port", tostring(port(80)) })
    assert.matches("0.0.0.0%crdev0:" .. port(80), lr.stdout, 1, true)
    lr = testenv.run_in_netns(netns(), { "listeners.lua", "--json", "--proto", "tcp", "--port", tostring(port(80)) })
    local rows = assert(dkjson.decode(lr.stdout)).sockets
    assert.equal("crdev0", rows[1].dev)
    lr = testenv.run_in_netns(netns(), { "whoowns.lua", tostring(port(80)) })
    assert.matches("tcp 0.0.0.0%crdev0:" .. port(80) .. " listen", lr.stdout, 1, true)
  end)

  it("refused-unexplained, not firewall-reject, from /proc/net: the device binding is said to be unread", function()
    listen_bound_to_device(port(80))
    local doc, f = diagnose({ "127.0.0.1:" .. port(80) }, { prefix = "env CONNRECIPE_SOCK_DIAG=off " })
    assert.equal("refused-unexplained", doc.verdict)
    assert.is_nil(f["firewall-reject"])
    local u = text_of(f["refused-unexplained"])
    assert.matches("checked: no nft or iptables rule rejects it", u, 1, true)
    assert.matches("not checked: whether the listener is bound to a device", u, 1, true)
    assert.matches("not checked: cgroup eBPF programs", u, 1, true)
    -- and listeners says it cannot show the device
    local lr = testenv.sh(testenv.in_netns(netns(), ("env CONNRECIPE_SOCK_DIAG=off %s listeners.lua --proto tcp "
      .. "--port %d"):format(q(testenv.bin), port(80))))
    assert.matches("0.0.0.0:" .. port(80), lr.stdout, 1, true)
    assert.matches("which does not show a bound device (SO_BINDTODEVICE)", lr.stderr, 1, true)
  end)

  -- Skips the test, saying why; under CI=true, on a kernel that can make a
  -- VRF, fails it instead: there nothing but the kernel may stop it.
  local function skip_vrf(why, kernel_can)
    if kernel_can and os.getenv("CI") == "true" then
      error(why .. "; CI=true on a kernel with VRFs needs it")
    end
    pending(why)
  end

  -- A VRF in this test's namespace: vrf-blue (routing table 10) with crdev0
  -- (10.213.9.1/24) in it; false (the test skipped) when the kernel has no
  -- VRF driver (CONFIG_NET_VRF).
  local function make_vrf()
    local r = testenv.sh(testenv.in_netns(netns(), "ip link add vrf-blue type vrf table 10"))
    if r.code ~= 0 then
      skip_vrf(("this kernel cannot make a VRF (ip link add vrf-blue type vrf: %s; CONFIG_NET_VRF)"):format(
        (r.stderr:gsub("%s+$", ""))), false)
      return false
    end
    sh_ns("sh -c 'ip link set vrf-blue up && ip link add crdev0 type veth peer name crdev1 "
      .. "&& ip link set crdev0 master vrf-blue && ip addr add 10.213.9.1/24 dev crdev0 "
      .. "&& ip link set crdev0 up && ip link set crdev1 up'")
    return true
  end

  it("bound-to-vrf: a listener in a VRF refuses a default-VRF client; names the VRF, its table and the sysctl",
    function()
      if not make_vrf() then
        return
      end
      listen(port(80), "0.0.0.0", ",so-bindtodevice=vrf-blue") -- as ip vrf exec vrf-blue would bind it
      -- from inside the VRF it does listen
      assert.equal(0, sh_ns("socat -u OPEN:/dev/null TCP4:10.213.9.1:" .. port(80) .. ",so-bindtodevice=vrf-blue").code)
      local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
      assert.equal(1, r.code)
      assert.equal("bound-to-vrf", doc.verdict)
      assert.is_nil(f["bound-to-device"])
      assert.is_nil(f["refused-unexplained"])
      local b = f["bound-to-vrf"]
      assert.matches("socat %(pid %d+%) listens in VRF vrf%-blue", b.summary)
      assert.matches("this client is in the default VRF", b.summary, 1, true)
      assert.matches("vrf-blue is a VRF device (routing table 10; member interfaces: crdev0)", text_of(b), 1, true)
      assert.matches("net.ipv4.tcp_l3mdev_accept = 0", text_of(b), 1, true)
      assert.matches("ip vrf exec vrf-blue CMD", b.fix, 1, true)
      -- listeners shows the VRF as ss does
      local lr = testenv.run_in_netns(netns(), { "listeners.lua", "--proto", "tcp", "--port", tostring(port(80)) })
      assert.matches("0.0.0.0%vrf-blue:" .. port(80), lr.stdout, 1, true)
    end)

  it("client-in-vrf: a client run in a VRF is refused by a default-VRF listener until tcp_l3mdev_accept=1",
    function()
      if not make_vrf() then
        return
      end
      local r = testenv.sh(testenv.in_netns(netns(), "ip vrf exec vrf-blue true"))
      if r.code ~= 0 then
        return skip_vrf("ip vrf exec does not work here (it needs cgroup v2 and eBPF): " .. r.stderr, true)
      end
      listen(port(81), "0.0.0.0")
      local doc, f = diagnose({ "10.213.9.1:" .. port(81) }, { prefix = "ip vrf exec vrf-blue " })
      assert.equal("client-in-vrf", doc.verdict)
      local c = f["client-in-vrf"]
      assert.matches("this client runs in VRF vrf-blue and socat %(pid %d+%) listens in the default VRF", c.summary)
      assert.matches("sysctl -w net.ipv4.tcp_l3mdev_accept=1", c.fix, 1, true)
      sh_ns("sysctl -qw net.ipv4.tcp_l3mdev_accept=1") -- this namespace's own setting
      doc = diagnose({ "10.213.9.1:" .. port(81) }, { prefix = "ip vrf exec vrf-blue " })
      assert.equal("reachable", doc.verdict)
    end)

  -- A copy of a system program under a name no other run uses (comm keeps 15 characters).
  local function program_named(prefix, system_program)
    local name = prefix .. math.random(100000, 999999)
    local dir = testenv.tmpdir()
    testenv.sh_ok(("cp %s %s/%s"):format(system_program, dir, name))
    return name, dir .. "/" .. name
  end

  local function state_of(name)
    return testenv.sh("ps -o stat= -C " .. name).stdout:match("%a")
  end

  it("process-zombie, not starting-up: the program exited and its parent (named) did not reap it", function()
    local name, path = program_named("crzomb", "/bin/true")
    local dir = testenv.tmpdir()
    -- the parent forks the program and never waits for it
    testenv.write_file(dir .. "/noreap.py", ("import os,time\nif os.fork() == 0:\n    os.execv(%q, [%q])\n"
      .. "time.sleep(60)\n"):format(path, name))
    bg("timeout 60 python3 " .. dir .. "/noreap.py")
    assert(testenv.wait_for(function()
      return state_of(name) == "Z"
    end), name .. " never became a zombie")
    local doc, f = diagnose { "127.0.0.1:" .. port(80), "--process", name }
    assert.equal("process-zombie", doc.verdict)
    assert.is_nil(f["starting-up"])
    assert.matches(name .. " %(pid %d+%) has exited: it is a zombie", f["process-zombie"].summary)
    assert.matches("its parent python3 %(pid %d+%) has not reaped", f["process-zombie"].summary)
    assert.matches("noreap.py", text_of(f["process-zombie"]), 1, true)
  end)

  -- tests/helpers/thread_leader under a name no other run uses: its main
  -- thread calls pthread_exit and a worker thread runs on (accepting on
  -- addr:p when given); waits until its leader shows Z. With own_netns, in
  -- a network namespace of its own, where it is the only process. Killed at
  -- the test's end: the harness finds its processes by /proc/PID/environ,
  -- which a zombie leader no longer has (it ends itself after 60 s too).
  local function thread_leader(addr, p, own_netns)
    local name, path = program_named("crthr", testenv.helper("thread_leader"))
    local cmd = ("%s %s"):format(path, addr and (addr .. " " .. p) or "")
    bg(own_netns and ("unshare -n sh -c 'ip link set lo up && exec %s'"):format(cmd) or ("timeout 60 " .. cmd))
    assert(testenv.wait_for(function()
      return state_of(name) == "Z"
    end), name .. "'s leader never showed Z")
    local pid = assert(tonumber(testenv.sh("pgrep -x " .. name).stdout:match("%d+")))
    finally(function()
      testenv.sh("kill -9 " .. pid)
    end)
    if p and not own_netns then
      assert(testenv.wait_listening(netns(), "tcp", p))
    end
    return name, pid
  end

  it("a leader that is Z while its threads run is running: it holds its listener, named; stopped, it says so",
    function()
      local name, pid = thread_leader("127.0.0.1", port(80))
      local doc, f = diagnose { "127.0.0.1:" .. port(80), "--process", name }
      assert.equal("reachable", doc.verdict)
      assert.matches(("%s (pid %d)"):format(name, pid), f.reachable.summary, 1, true)
      assert.is_nil(f["owner-unknown"]) -- its fds are its worker's: /proc/PID/fd of the leader is empty
      assert.is_nil(f["process-zombie"])
      local lr = testenv.run_in_netns(netns(), { "listeners.lua", "--proto", "tcp", "--port", tostring(port(80)) })
      assert.matches(("%s/%d"):format(name, pid), lr.stdout, 1, true)
      -- cr.process.get says why: the leader's state, and its live threads'
      local p = testenv.sh(testenv.in_netns(netns(), ("%s -e %s"):format(q(testenv.bin),
        q(("local p = cr.process.get(%d) print(p.state, p.live_threads, p.threads_state, p.exe ~= nil)"):format(
          pid))))).stdout
      assert.matches("^Z\t1\t[RS]\ttrue", p)
      -- stopped (its worker too): only the kernel answers
      testenv.sh_ok("kill -STOP " .. pid)
      doc, f = diagnose { "127.0.0.1:" .. port(80) }
      testenv.sh("kill -CONT " .. pid)
      assert.equal("process-stopped", doc.verdict)
      assert.matches("state T (stopped); main thread exited, 1 thread still there (stopped)",
        text_of(f["process-stopped"]), 1, true)
    end)

  it("other-netns: the namespace whose only process is a leader in Z (its ns link gone) is found through a thread",
    function()
      local name, pid = thread_leader("127.0.0.1", port(80), true)
      local doc, f = diagnose { "127.0.0.1:" .. port(80) }
      assert.equal("other-netns", doc.verdict)
      assert.matches(("%s (pid %d) listens on it in another network namespace"):format(name, pid),
        f["other-netns"].summary, 1, true)
    end)

  it("not process-zombie: a program whose main thread exited runs on in its threads (listening nowhere)", function()
    local name, pid = thread_leader()
    local doc, f = diagnose { "127.0.0.1:" .. port(80), "--process", name }
    assert.is_nil(f["process-zombie"])
    assert.equal("starting-up", doc.verdict) -- a few seconds old: it may still bind
    assert.matches(("%s (pid %d): main thread exited, 1 thread still running (its leader's state is Z"):format(
      name, pid), text_of(f["starting-up"]), 1, true)
  end)

  it("process-stopped, not starting-up: a stopped program does not listen; the fix is kill -CONT", function()
    local name, path = program_named("crstop", "/bin/sleep")
    bg("timeout 60 " .. path .. " 60")
    assert(testenv.wait_for(function()
      return state_of(name) ~= nil
    end))
    local pid = assert(tonumber(testenv.sh("pgrep -x " .. name).stdout:match("%d+")))
    testenv.sh_ok("kill -STOP " .. pid)
    assert(testenv.wait_for(function()
      return state_of(name) == "T"
    end))
    local doc, f = diagnose { "127.0.0.1:" .. port(80), "--process", name }
    assert.equal("process-stopped", doc.verdict)
    assert.is_nil(f["starting-up"])
    assert.equal(("kill -CONT %d (or fg in the shell that stopped it)"):format(pid), f["process-stopped"].fix)
    testenv.sh("kill -CONT " .. pid)
  end)

  it("process-stopped over reachable: the listener's only holder is stopped, only the kernel answers", function()
    listen(port(80))
    local pid = assert(tonumber(sh_ns("ss -tlnpH sport = :" .. port(80)).stdout:match("pid=(%d+)")))
    testenv.sh_ok("kill -STOP " .. pid)
    local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
    testenv.sh("kill -CONT " .. pid)
    assert.equal(1, r.code)
    assert.equal("process-stopped", doc.verdict)
    assert.matches("only the kernel answers: socat %(pid " .. pid .. "%)", f["process-stopped"].summary)
    assert.equal(("kill -CONT %d (or fg in the shell that stopped it)"):format(pid), f["process-stopped"].fix)
    doc = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("reachable", doc.verdict) -- continued, it accepts again
  end)

  it("accepted-then-closed and accepted-then-reset: a server that drops the connection is never reachable", function()
    listen(port(80), "127.0.0.1", nil, "SYSTEM:true")
    local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal(1, r.code)
    assert.equal("accepted-then-closed", doc.verdict)
    assert.is_nil(f.reachable)
    assert.matches("socat %(pids? %d+", text_of(f["accepted-then-closed"]))
    local dir = testenv.tmpdir() -- accepts, then SO_LINGER 0 and close: a reset
    testenv.write_file(dir .. "/reset.py", ("import socket,struct\ns=socket.socket()\n"
      .. "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('127.0.0.1',%d))\ns.listen(8)\n"
      .. "while True:\n  c,_=s.accept()\n"
      .. "  c.setsockopt(socket.SOL_SOCKET,socket.SO_LINGER,struct.pack('ii',1,0))\n  c.close()\n"):format(port(81)))
    bg("timeout 60 python3 " .. dir .. "/reset.py")
    assert(testenv.wait_listening(netns(), "tcp", port(81)))
    doc, f = diagnose { "127.0.0.1:" .. port(81) }
    -- the reset can beat the connect's own wake-up: connect() itself then says ECONNRESET
    local id = doc.verdict == "connection-reset" and "connection-reset" or "accepted-then-reset"
    assert.equal(id, doc.verdict)
    assert.matches("python3 %(pid %d+%)", text_of(f[id]))
    assert.is_nil(f.reachable)
    doc = diagnose { "127.0.0.1:" .. port(80), "--settle", "0" } -- without the window: only the connect
    assert.equal("reachable", doc.verdict)
  end)

  it("application-refused: redis in protected mode, seen from another namespace over a veth", function()
    if not testenv.have("redis-server") then
      return pending("redis-server not installed")
    end
    local far = testenv.netns()
    local veth = "crr" .. math.random(10000, 99999)
    assert(os.execute(("ip link add %s type veth peer name %sp"):format(veth, veth)))
    assert(os.execute(("ip link set %s netns %s && ip link set %sp netns %s"):format(veth, netns(), veth, far)))
    sh_ns(("sh -c 'ip addr add 10.213.8.1/24 dev %s && ip link set %s up'"):format(veth, veth))
    sh_ns(("sh -c 'ip addr add 10.213.8.2/24 dev %sp && ip link set %sp up && ip link set lo up'"):format(veth, veth),
      far)
    local dir = testenv.tmpdir() -- no password, bound to every address: protected mode serves loopback only
    bg(("timeout 60 redis-server --port %d --save '' --dir %s"):format(port(79), dir), far)
    assert(testenv.wait_listening(far, "tcp", port(79)))
    local doc, f, r = diagnose { "redis://10.213.8.2:" .. port(79) }
    assert.equal(1, r.code)
    assert.equal("application-refused", doc.verdict)
    assert.is_nil(f.reachable)
    assert.matches('"-DENIED Redis is running in protected mode', f["application-refused"].summary, 1, true)
    assert.matches("requirepass", f["application-refused"].fix, 1, true)
    -- the same server from its own namespace (loopback) takes the client: PING, +PONG
    doc, f = diagnose({ "redis://127.0.0.1:" .. port(79) }, { ns = far })
    assert.equal("reachable", doc.verdict)
    assert.matches('it answered PING: "+PONG"', table.concat(f.reachable.evidence, "\n"), 1, true)
  end)

  it("application-refused: PostgreSQL without a pg_hba.conf entry for the client, quoted", function()
    local bin = "/usr/lib/postgresql/15/bin/"
    if not testenv.have(bin .. "postgres") then
      return pending("PostgreSQL 15 not installed (Debian's postgresql package)")
    end
    local dir = testenv.tmpdir()
    testenv.sh_ok("chown postgres " .. dir)
    testenv.sh_ok(("runuser -u postgres -- %sinitdb -D %s/data -A trust -U postgres >/dev/null"):format(bin, dir))
    -- clients from 127.0.0.2 only: a client from 127.0.0.1 has no entry
    testenv.write_file(dir .. "/data/pg_hba.conf", "local all all trust\nhost all all 127.0.0.2/32 trust\n")
    -- one connection at most (none kept for superusers): a second client is one too many
    bg(("timeout 60 runuser -u postgres -- %spostgres -D %s/data -k %s -c listen_addresses=127.0.0.1 -p %d "
      .. "-c max_connections=1 -c superuser_reserved_connections=0 2>%s/pg.log"):format(bin, dir, dir, port(80), dir))
    -- ready, not only listening: until its startup ends it answers "the database system is starting up"
    assert(testenv.wait_postgres(dir, port(80)), "postgres did not become ready: "
      .. tostring(testenv.read_file(dir .. "/pg.log")))
    local doc, f = diagnose { "postgres://127.0.0.1:" .. port(80) }
    assert.equal("application-refused", doc.verdict)
    local refused = f["application-refused"]
    assert.matches('"FATAL: no pg_hba.conf entry for host \\"127.0.0.1\\", user \\"connrecipe\\"', refused.summary,
      1, true)
    assert.matches("postgres %(pids? %d+", refused.summary) -- a backend forked for a client holds it too
    assert.matches("host DATABASE USER 127.0.0.1/32", refused.fix, 1, true)
    -- the one connection taken (over the Unix socket): the limit speaks before pg_hba.conf does
    bg(("timeout 60 runuser -u postgres -- psql -h %s -p %d -U postgres -c 'select pg_sleep(50)' >/dev/null"):format(
      dir, port(80)))
    local full
    assert(testenv.wait_for(function()
      full = select(2, diagnose { "postgres://127.0.0.1:" .. port(80) })["application-refused"]
      return full and full.summary:find("too many clients", 1, true) ~= nil
    end, 20), "the second client was not refused for the limit")
    assert.matches('"FATAL: sorry, too many clients already"', full.summary, 1, true)
    assert.matches("max_connections", full.fix, 1, true)
  end)

  it("application-refused: MariaDB's error packet, host not allowed, seen from another namespace", function()
    if not (testenv.have("mariadbd") and testenv.have("mariadb-install-db")) then
      return pending("MariaDB not installed (Debian's mariadb-server package)")
    end
    local far = testenv.netns()
    local veth = "crm" .. math.random(10000, 99999)
    assert(os.execute(("ip link add %s type veth peer name %sp"):format(veth, veth)))
    assert(os.execute(("ip link set %s netns %s && ip link set %sp netns %s"):format(veth, netns(), veth, far)))
    sh_ns(("sh -c 'ip addr add 10.213.11.1/24 dev %s && ip link set %s up'"):format(veth, veth))
    sh_ns(("sh -c 'ip addr add 10.213.11.2/24 dev %sp && ip link set %sp up && ip link set lo up'"):format(veth, veth),
      far)
    local dir = testenv.tmpdir() -- a fresh data directory: accounts for localhost only
    testenv.sh_ok("chown mysql " .. dir)
    testenv.sh_ok(("mariadb-install-db --no-defaults --user=mysql --datadir=%s/data --skip-test-db "
      .. "--auth-root-authentication-method=normal >/dev/null 2>&1"):format(dir))
    bg(("timeout 60 runuser -u mysql -- mariadbd --no-defaults --datadir=%s/data --socket=%s/sock --pid-file=%s/pid "
      .. "--bind-address=0.0.0.0 --port=%d --skip-name-resolve"):format(dir, dir, dir, port(60)), far)
    assert(testenv.wait_listening(far, "tcp", port(60)))
    local doc, f = diagnose { "mysql://10.213.11.2:" .. port(60) }
    assert.equal("application-refused", doc.verdict)
    assert.matches([["ERROR 1130: Host '10.213.11.1' is not allowed to connect]], f["application-refused"].summary, 1,
      true)
    assert.matches("'USER'@'10.213.11.1'", f["application-refused"].fix, 1, true)
  end)

  it("protocol-mismatch: redis spoken to an HTTP server names what answered", function()
    bg("timeout 60 python3 -m http.server " .. port(80) .. " --bind 127.0.0.1")
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    local doc, f = diagnose { "redis://127.0.0.1:" .. port(80) }
    assert.equal("protocol-mismatch", doc.verdict)
    assert.is_nil(f.reachable)
    assert.matches("does not answer as redis (it answers like http)", f["protocol-mismatch"].summary, 1, true)
    assert.matches('"<!DOCTYPE HTML>', f["protocol-mismatch"].summary, 1, true) -- HTTP/0.9: a page, no status
  end)

  it("TLS: self-signed, name mismatch, expired; TLS to a plain port and plain HTTP to a TLS port (nginx)", function()
    if not (testenv.have("nginx") and testenv.have("openssl")) then
      return pending("nginx or openssl not installed")
    end
    local dir = testenv.tmpdir()
    make_certificates(dir)
    nginx_tls(dir, { { port = port(43), cert = "cert" }, { port = port(44), cert = "old" }, { port = port(45) } })
    local doc, f, r = diagnose { "https://127.0.0.1:" .. port(43) .. "/" }
    assert.equal(1, r.code)
    assert.equal("tls-cert-self-signed", doc.verdict)
    assert.is_nil(f.reachable)
    assert.is_nil(f["tls-name-mismatch"]) -- its SAN has IP:127.0.0.1
    assert.matches("subject CN=web.test", text_of(f["tls-cert-self-signed"]), 1, true)
    testenv.netns_etc(netns(), { hosts = "127.0.0.1 other.test\n", ["nsswitch.conf"] = "hosts: files\n" })
    doc, f = diagnose { "https://other.test:" .. port(43) .. "/" }
    assert.equal("tls-name-mismatch", doc.verdict)
    assert.matches("not for other.test (it names DNS:web.test, IP:127.0.0.1)", f["tls-name-mismatch"].summary, 1, true)
    doc, f = diagnose { "https://127.0.0.1:" .. port(44) .. "/" }
    assert.equal("tls-cert-expired", doc.verdict)
    assert.matches("expired on 2020-02-01", f["tls-cert-expired"].summary, 1, true)
    doc, f = diagnose { "https://127.0.0.1:" .. port(45) .. "/" }
    assert.equal("tls-not-spoken", doc.verdict)
    assert.matches('(wrong version number): it answered in plain text (http): "HTTP/1.1 400 Bad Request"',
      f["tls-not-spoken"].summary, 1, true)
    doc, f = diagnose { "http://127.0.0.1:" .. port(43) .. "/" }
    assert.equal("tls-expected", doc.verdict)
    assert.matches('it answered "HTTP/1.1 400 Bad Request"', f["tls-expected"].summary, 1, true)
    assert.matches("https://127.0.0.1:" .. port(43) .. "/", f["tls-expected"].fix, 1, true)
    doc, f = diagnose { "http://127.0.0.1:" .. port(45) .. "/" } -- plain to plain: reachable, with its status line
    assert.equal("reachable", doc.verdict)
    assert.matches('it answered HEAD / HTTP/1.1: "HTTP/1.1 200 OK"', table.concat(f.reachable.evidence, "\n"), 1, true)
  end)

  it("rejects a bad target with exit 2 and one line", function()
    local r = testenv.run_in_netns(netns(), { "diagnose.lua", "localhost:99999" })
    assert.equal(2, r.code)
    assert.equal("connrecipe: diagnose: TARGET: port 99999 out of range 1-65535 in 'localhost:99999' "
      .. "(see 'connrecipe diagnose --help')\n", r.stderr)
  end)
end)
