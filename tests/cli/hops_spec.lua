-- diagnose.lua follows the hops, for real: forwarders (socat, docker-proxy)
-- and DNAT rules (iptables, nft, kube-proxy's formats) inside this test's
-- namespace send the connection over a veth pair to an upstream namespace the
-- test made; diagnose probes the upstream from inside it and names the cause
-- there. Nothing outside these namespaces is touched. Each test takes its own
-- /24 (10.217.N.0/24) so that parallel runs never share an upstream address.
local testenv = require "testenv"
local q = testenv.quote

local netns, base -- the client's namespace (per test) and its ports
local far, subnet -- the upstream's namespace, and "10.217.N"

local function port(n)
  netns()
  return base + n
end

local function sh_ns(cmd, namespace)
  return testenv.sh_in(namespace or netns(), cmd)
end

-- A veth pair: SUBNET.1 here, SUBNET.2 in a fresh upstream namespace.
local function upstream_namespace()
  far = testenv.netns()
  subnet = ("10.217.%d"):format(math.random(1, 250))
  local veth = "crh" .. math.random(10000, 99999)
  testenv.sh_ok(("ip link add %s type veth peer name %sp"):format(veth, veth))
  testenv.sh_ok(("ip link set %s netns %s && ip link set %sp netns %s"):format(veth, netns(), veth, far))
  sh_ns(("sh -c 'ip addr add %s.1/24 dev %s && ip link set %s up'"):format(subnet, veth, veth))
  sh_ns(("sh -c 'ip addr add %s.2/24 dev %sp && ip link set %sp up'"):format(subnet, veth, veth), far)
  return far
end

local function diagnose(args)
  local parts = { q(testenv.bin), "diagnose.lua", "--json" }
  for _, a in ipairs(args) do
    parts[#parts + 1] = q(a)
  end
  local r = testenv.sh(testenv.in_netns(netns(), table.concat(parts, " ")))
  local doc, by_id = testenv.report(r)
  return doc, by_id, r
end

-- socat in this namespace forwarding 127.0.0.1:port(80) to the upstream's port p.
local function socat_forwarder(p)
  testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork TCP4:%s.2:%d")
    :format(port(80), subnet, p))
  assert(testenv.wait_listening(netns(), "tcp", port(80)))
end

local function path_of(f)
  for _, e in ipairs(f.evidence or {}) do
    if e:find("^path: ") then
      return e
    end
  end
  return ""
end

describe("diagnose.lua follows the hops", function()
  netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "socat", "iptables-restore", "nft" }, prepare = function()
    base = testenv.port_block()
  end })

  it("socat to an upstream namespace where nothing listens: upstream-failing, no-listener there", function()
    upstream_namespace()
    socat_forwarder(port(81))
    local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal(1, r.code)
    assert.equal("upstream-failing", doc.verdict)
    local hop = f["upstream-failing"]
    -- a child socat forked for an earlier connection may still hold the listener: "pids A, B"
    assert.matches("accepted by socat %(pids? [%d, ]+%), which forwards it to " .. subnet:gsub("%.", "%%.") .. "%.2:"
      .. port(81), hop.summary)
    assert.matches("nothing listens on port " .. port(81), hop.summary)
    local path = path_of(hop)
    assert.matches("client → 127%.0%.0%.1:" .. port(80) .. " %(socat, pid %d+%) → ", path)
    assert.truthy(path:find("(netns " .. far .. ")", 1, true), path)
    assert.matches("→ no%-listener$", path)
    assert.is_nil(f.reachable) -- accepted, then closed by socat: never reachable
  end)

  it("socat to an upstream whose firewall rejects: the rule in the upstream's namespace is named", function()
    upstream_namespace()
    testenv.tcp_listen(far, port(82), { bind = "0.0.0.0" })
    sh_ns("iptables -A INPUT -p tcp --dport " .. port(82) .. " -j REJECT --reject-with tcp-reset", far)
    socat_forwarder(port(82))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    assert.matches("→ firewall%-reject$", path_of(f["upstream-failing"]))
    assert.equal(("in netns %s (ip netns exec %s ...): iptables -t filter -D INPUT -p tcp -m tcp --dport %d -j REJECT "
      .. "--reject-with tcp-reset"):format(far, far, port(82)), f["upstream-failing"].fix)
  end)

  it("socat to an upstream that listens: reachable, nothing failing", function()
    upstream_namespace()
    testenv.tcp_listen(far, port(83), { bind = "0.0.0.0" })
    socat_forwarder(port(83))
    local doc, f, r = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal(0, r.code)
    assert.equal("reachable", doc.verdict)
    assert.is_nil(f["upstream-failing"])
  end)

  it("socat that serves (SYSTEM:, EXEC:) forwards nothing: no hop, no upstream-not-followed", function()
    for i, handler in ipairs { "SYSTEM:'echo hi'", "EXEC:cat" } do
      testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork %s")
        :format(port(97 + i), handler))
      assert(testenv.wait_listening(netns(), "tcp", port(97 + i)))
      local doc, f = diagnose { "127.0.0.1:" .. port(97 + i) }
      for _, id in ipairs { "upstream-not-followed", "upstream-failing", "forwarding-loop", "follow-depth-limit" } do
        assert.is_nil(f[id], handler .. ": " .. id)
      end
      assert.is_not.equal("upstream-failing", doc.verdict)
    end
  end)

  it("socat to a Unix socket that is missing: the Unix target's own cause", function()
    local sock = testenv.tmpdir() .. "/app.sock"
    testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:%s")
      :format(port(80), sock))
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    assert.truthy(path_of(f["upstream-failing"]):find("→ unix:" .. sock .. " (same netns) → unix-socket-missing", 1,
      true), path_of(f["upstream-failing"]))
  end)

  it("an iptables DNAT rule: the endpoint is probed in its namespace", function()
    upstream_namespace()
    sh_ns(("iptables -t nat -A OUTPUT -d %s.100 -p tcp --dport %d -j DNAT --to-destination %s.2:%d"):format(subnet,
      port(80), subnet, port(84)))
    local doc, f = diagnose { subnet .. ".100:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    local hop = f["upstream-failing"]
    assert.matches("is rewritten by DNAT, chain OUTPUT to " .. subnet:gsub("%.", "%%.") .. "%.2:" .. port(84),
      hop.summary)
    assert.truthy(path_of(hop):find("(netns " .. far .. ")", 1, true))
    assert.matches("→ no%-listener$", path_of(hop))
  end)

  -- A DNAT of one of this namespace's own addresses, refused upstream: the
  -- refusal has no listener here, so only the nat rules name the hop (the
  -- firewall is not read for it), whichever tool wrote them.
  for _, tool in ipairs { "iptables", "iptables-legacy" } do
    it(tool .. " DNAT of a local address, refused upstream: the rule is found and followed", function()
      if not testenv.have(tool) then
        return pending("needs " .. tool)
      end
      upstream_namespace()
      sh_ns(("%s -t nat -A OUTPUT -d %s.1 -p tcp --dport %d -j DNAT --to-destination %s.2:%d"):format(tool, subnet,
        port(80), subnet, port(87)))
      local doc, f = diagnose { subnet .. ".1:" .. port(80) }
      assert.equal("upstream-failing", doc.verdict)
      assert.matches("is rewritten by DNAT, chain OUTPUT to " .. subnet:gsub("%.", "%%.") .. "%.2:" .. port(87),
        f["upstream-failing"].summary)
      assert.matches("→ no%-listener$", path_of(f["upstream-failing"]))
    end)
  end

  it("an nft dnat rule: the endpoint is probed in its namespace", function()
    upstream_namespace()
    sh_ns("nft add table ip crhops")
    sh_ns("nft add chain ip crhops out '{ type nat hook output priority -100; }'")
    sh_ns(("nft add rule ip crhops out ip daddr %s.101 tcp dport %d dnat to %s.2:%d"):format(subnet, port(80), subnet,
      port(85)))
    local doc, f = diagnose { subnet .. ".101:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    assert.matches("→ no%-listener$", path_of(f["upstream-failing"]))
  end)

  -- kube-proxy's iptables rules, as it writes them, with iptables-restore
  local function kube_iptables(svc_ip, svc_port, ep)
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/rules", table.concat({
      "*filter",
      ":KUBE-SERVICES - [0:0]",
      "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
      ("-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"shop/web:http has no endpoints\" -m tcp "
        .. "--dport %d -j REJECT --reject-with icmp-port-unreachable"):format(svc_ip, svc_port),
      "COMMIT",
      "*nat",
      ":KUBE-SERVICES - [0:0]",
      ":KUBE-SVC-ABC - [0:0]",
      ":KUBE-SEP-XYZ - [0:0]",
      "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
      ("-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"shop/api:http cluster IP\" -m tcp --dport %d "
        .. "-j KUBE-SVC-ABC"):format(ep.svc_ip, ep.svc_port),
      "-A KUBE-SVC-ABC -m comment --comment \"shop/api:http -> endpoint\" -j KUBE-SEP-XYZ",
      ("-A KUBE-SEP-XYZ -p tcp -m comment --comment \"shop/api:http\" -m tcp -j DNAT --to-destination %s"):format(
        ep.to),
      "COMMIT", "" }, "\n"))
    sh_ns("iptables-restore " .. dir .. "/rules")
  end

  it("kube-proxy (iptables): a Service without endpoints, and one whose endpoint fails", function()
    upstream_namespace()
    sh_ns("ip route add 10.96.0.0/12 dev lo")
    kube_iptables("10.96.7.10", port(80), { svc_ip = "10.96.7.11", svc_port = port(80),
      to = ("%s.2:%d"):format(subnet, port(86)) })
    local doc, f = diagnose { "10.96.7.10:" .. port(80) }
    assert.equal("service-no-endpoints", doc.verdict)
    local svc = f["service-no-endpoints"]
    assert.matches("Service shop/web:http has no endpoints", svc.summary)
    assert.matches("kubectl get endpointslices %-n shop %-l kubernetes%.io/service%-name=web", svc.fix)
    assert.matches("kube%-proxy owns", f["firewall-reject"].fix) -- never an iptables -D of kube-proxy's rule
    doc, f = diagnose { "10.96.7.11:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    assert.matches("DNAT by kube%-proxy, chain KUBE%-SEP%-XYZ", f["upstream-failing"].summary)
    assert.matches("→ no%-listener$", path_of(f["upstream-failing"]))
  end)

  it("kube-proxy (nft): the no-endpoint-services map names the Service", function()
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/kp.nft", ([[
table ip kube-proxy {
  map no-endpoint-services {
    type ipv4_addr . inet_proto . inet_service : verdict
    elements = { 10.96.7.12 . tcp . %d comment "shop/cart:http" : goto reject-chain }
  }
  chain reject-chain {
    reject
  }
  chain service-endpoints-check {
    ip daddr . meta l4proto . th dport vmap @no-endpoint-services
  }
  chain filter-output {
    type filter hook output priority -110; policy accept;
    ct state new jump service-endpoints-check
  }
}
]]):format(port(80)))
    sh_ns("nft -f " .. dir .. "/kp.nft")
    sh_ns("ip route add 10.96.0.0/12 dev lo")
    local doc, f = diagnose { "10.96.7.12:" .. port(80) }
    assert.equal("service-no-endpoints", doc.verdict)
    assert.matches("Service shop/cart:http has no endpoints", f["service-no-endpoints"].summary)
    assert.matches("service%-name=cart", f["service-no-endpoints"].fix)
  end)

  it("TLS at the upstream: a self-signed certificate, another name, a plain port, checked from inside its namespace",
    function()
    if not testenv.have("openssl") then
      return pending("openssl not installed")
    end
    upstream_namespace()
    local dir = testenv.tmpdir()
    testenv.sh_ok(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 "
      .. "-subj /CN=web.test -addext subjectAltName=DNS:web.test,IP:127.0.0.1 2>/dev/null"):format(dir))
    testenv.background_in(far, ("timeout 60 socat OPENSSL-LISTEN:%d,bind=0.0.0.0,reuseaddr,fork,cert=%s/cert.pem,"
      .. "key=%s/key.pem,verify=0 SYSTEM:'sleep 1'"):format(port(88), dir, dir))
    assert(testenv.wait_listening(far, "tcp", port(88)))
    socat_forwarder(port(88))
    local doc, f = diagnose { "https://127.0.0.1:" .. port(80) .. "/" }
    assert.equal("upstream-failing", doc.verdict)
    local hop = f["upstream-failing"]
    assert.truthy(path_of(hop):find(("→ %s.2:%d (netns %s) → tls-cert-self-signed"):format(subnet, port(88), far), 1,
      true), path_of(hop))
    assert.matches("the certificate is self%-signed", hop.summary)
    -- the client's half for the client, the certificate to change in the upstream's namespace, by its holder
    assert.matches(("^on the client: trust this certificate %%(curl %%-%%-cacert FILE; update%%-ca%%-certificates%%); "
      .. "or, in netns %s %%(ip netns exec %s %%.%%.%%.%%): give socat %%(pids? [%%d, ]+%%) a certificate from a "
      .. "CA the clients trust$"):format(far:gsub("%-", "%%-"), far:gsub("%-", "%%-")), hop.fix)
    -- the name checked at the upstream is the client's, not the upstream's address
    testenv.netns_etc(netns(), { hosts = "127.0.0.1 other.test\n", ["nsswitch.conf"] = "hosts: files\n" })
    doc, f = diagnose { "https://other.test:" .. port(80) .. "/" }
    assert.equal("upstream-failing", doc.verdict)
    assert.matches("→ tls%-name%-mismatch$", path_of(f["upstream-failing"]))
    assert.matches("not for other.test (it names DNS:web.test, IP:127.0.0.1)", f["upstream-failing"].summary, 1, true)
    assert.matches(("^on the client: connect with a name the certificate has; or, in netns %s %%(ip netns exec %s "
      .. "%%.%%.%%.%%): give socat %%(pids? [%%d, ]+%%) a certificate that includes other%%.test %%(SAN%%)$"):format(
      far:gsub("%-", "%%-"), far:gsub("%-", "%%-")), f["upstream-failing"].fix)
    -- TLS spoken to a plain port behind the forwarder: curl's "wrong version number", at the upstream
    testenv.background_in(far, ("timeout 60 python3 -m http.server %d --bind 0.0.0.0"):format(port(89)))
    assert(testenv.wait_listening(far, "tcp", port(89)))
    testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork TCP4:%s.2:%d")
      :format(port(90), subnet, port(89)))
    assert(testenv.wait_listening(netns(), "tcp", port(90)))
    doc, f = diagnose { "https://127.0.0.1:" .. port(90) .. "/" }
    assert.equal("upstream-failing", doc.verdict)
    assert.matches("→ tls%-not%-spoken$", path_of(f["upstream-failing"]))
    assert.matches("wrong version number", f["upstream-failing"].summary)
  end)

  it("a forwarder that ends the client's TLS (socat OPENSSL-LISTEN): the upstream is not asked for TLS", function()
    if not testenv.have("openssl") then
      return pending("openssl not installed")
    end
    upstream_namespace()
    local dir = testenv.tmpdir()
    testenv.sh_ok(("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 30 "
      .. "-subj /CN=web.test -addext subjectAltName=IP:127.0.0.1 2>/dev/null"):format(dir))
    testenv.background_in(far, ("timeout 60 python3 -m http.server %d --bind 0.0.0.0"):format(port(97)))
    assert(testenv.wait_listening(far, "tcp", port(97)))
    testenv.background_in(netns(), ("timeout 60 socat OPENSSL-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,cert=%s/cert.pem,"
      .. "key=%s/key.pem,verify=0 TCP4:%s.2:%d"):format(port(80), dir, dir, subnet, port(97)))
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    local doc, f = diagnose { "https://127.0.0.1:" .. port(80) .. "/" }
    assert.equal("tls-cert-self-signed", doc.verdict) -- socat's own certificate, the client's only TLS
    assert.is_nil(f["upstream-failing"]) -- plain HTTP behind it is right
  end)

  it("DNAT then socat: the forwarder at the endpoint is read in its namespace and followed", function()
    upstream_namespace()
    sh_ns(("iptables -t nat -A OUTPUT -d %s.102 -p tcp --dport %d -j DNAT --to-destination %s.2:%d"):format(subnet,
      port(80), subnet, port(91)))
    testenv.background_in(far, ("timeout 60 socat TCP4-LISTEN:%d,bind=0.0.0.0,reuseaddr,fork TCP4:127.0.0.1:%d")
      :format(port(91), port(92)))
    assert(testenv.wait_listening(far, "tcp", port(91)))
    local doc, f = diagnose { subnet .. ".102:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    local hop = f["upstream-failing"]
    assert.matches("is rewritten by DNAT, chain OUTPUT to " .. subnet:gsub("%.", "%%.") .. "%.2:" .. port(91),
      hop.summary)
    local want = ("client → %s.102:%d (DNAT, chain OUTPUT) → %s.2:%d (netns %s; socat, pid "):format(subnet, port(80),
      subnet, port(91), far)
    assert.truthy(path_of(hop):find(want, 1, true), path_of(hop))
    assert.truthy(path_of(hop):find(("→ 127.0.0.1:%d (netns %s) → no-listener"):format(port(92), far), 1, true),
      path_of(hop))
    assert.truthy(hop.fix:find("in netns " .. far .. " ", 1, true), hop.fix)
  end)

  it("socat then DNAT: the rule the forwarder's connection meets is followed to its endpoint", function()
    upstream_namespace()
    sh_ns(("iptables -t nat -A OUTPUT -d %s.103 -p tcp --dport %d -j DNAT --to-destination %s.2:%d"):format(subnet,
      port(93), subnet, port(94)))
    testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork TCP4:%s.103:%d")
      :format(port(80), subnet, port(93)))
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    local want = ("client → 127.0.0.1:%d (socat, pid "):format(port(80))
    local rest = (") → %s.103:%d (same netns; DNAT, chain OUTPUT) → %s.2:%d (netns %s) → no-listener"):format(subnet,
      port(93), subnet, port(94), far)
    local path = path_of(f["upstream-failing"])
    assert.truthy(path:find(want, 1, true) and path:find(rest, 1, true), path)
  end)

  it("forwarders in a loop: found and named, never followed round again", function()
    -- max-children=1: the loop's own connections stay bounded (the third waits in a backlog)
    testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,max-children=1 "
      .. "TCP4:127.0.0.1:%d"):format(port(80), port(95)))
    testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork,max-children=1 "
      .. "TCP4:127.0.0.1:%d"):format(port(95), port(80)))
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    assert(testenv.wait_listening(netns(), "tcp", port(95)))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    local hop = f["upstream-failing"]
    assert.matches(("→ 127%%.0%%.0%%.1:%d %%(same netns%%) → forwarding%%-loop$"):format(port(95)), path_of(hop))
    local pid = hop.summary:match(("127%%.0%%.0%%.1:%d is accepted by socat %%(pid (%%d+)%%), which forwards it "
      .. "back to 127%%.0%%.0%%.1:%d %%(same netns%%), already on its path"):format(port(95), port(80)))
    assert.truthy(pid, hop.summary)
    assert.equal(("make socat (pid %s) forward to the service itself, not to 127.0.0.1:%d"):format(pid, port(80)),
      hop.fix)
  end)

  it("a chain longer than diagnose follows: the path ends with the hop not followed, the fix says where to go on",
    function()
    upstream_namespace()
    -- here: 110 -> 111 -> 112 -> 113 -> the upstream's 114, which forwards to its own 127.0.0.1:115 (nothing there)
    testenv.background_in(far, ("timeout 60 socat TCP4-LISTEN:%d,bind=0.0.0.0,reuseaddr,fork TCP4:127.0.0.1:%d")
      :format(port(114), port(115)))
    assert(testenv.wait_listening(far, "tcp", port(114)))
    for n = 110, 113 do
      local up = n < 113 and ("127.0.0.1:%d"):format(port(n + 1)) or ("%s.2:%d"):format(subnet, port(114))
      testenv.background_in(netns(), ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork TCP4:%s")
        :format(port(n), up))
      assert(testenv.wait_listening(netns(), "tcp", port(n)))
    end
    local doc, f, r = diagnose { "127.0.0.1:" .. port(110) }
    assert.equal(1, r.code)
    assert.equal("upstream-failing", doc.verdict)
    local hop = f["upstream-failing"]
    local path = path_of(hop)
    local tail = ("→ %s.2:%d (netns %s; socat, pid "):format(subnet, port(114), far)
    assert.truthy(path:find(tail, 1, true), path)
    assert.truthy(path:find((") → 127.0.0.1:%d (not followed) → follow-depth-limit"):format(port(115)), 1, true), path)
    local pid = hop.summary:match(("where: %s%%.2:%d is forwarded by socat %%(pid (%%d+)%%) to 127%%.0%%.0%%.1:%d, "
      .. "which is not followed: diagnose follows 4 hops at most; the connection fails past "):format(
      subnet:gsub("%.", "%%."), port(114), port(115)))
    assert.truthy(pid, hop.summary)
    assert.equal(("in netns %s (ip netns exec %s ...): diagnose the next hop from where socat (pid %s) sends it: "
      .. "connrecipe diagnose 127.0.0.1:%d"):format(far, far, pid, port(115)), hop.fix)
    -- run there, as the fix says: the next hop's own cause
    doc = testenv.report(testenv.sh(testenv.in_netns(far, ("%s diagnose.lua --json 127.0.0.1:%d"):format(
      q(testenv.bin), port(115)))))
    assert.equal("no-listener", doc.verdict)
  end)

  it("the upstream app binds loopback in its namespace: the fix is for the app, where the forwarder connects",
    function()
    upstream_namespace()
    testenv.tcp_listen(far, port(96), { bind = "127.0.0.1" })
    socat_forwarder(port(96))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    local hop = f["upstream-failing"]
    assert.matches("→ address%-mismatch$", path_of(hop))
    local up = ("%s.2"):format(subnet)
    local app, fwd = hop.fix:match(("^in netns %s %%(ip netns exec %s %%.%%.%%.%%): make socat %%(pid (%%d+)%%) listen "
      .. "on %s %%(or on every address, 0%%.0%%.0%%.0%%) instead of 127%%.0%%.0%%.1 only: socat %%(pid (%%d+)%%) "
      .. "connects to %s:%d$"):format(far:gsub("%-", "%%-"), far:gsub("%-", "%%-"), up:gsub("%.", "%%."),
      up:gsub("%.", "%%."), port(96)))
    assert.truthy(app, hop.fix)
    assert.is_not.equal(app, fwd) -- the app in the upstream's namespace, then the forwarder here
    assert.truthy(table.concat(hop.evidence, "\n"):find(("upstream: 127.0.0.1:%d held by socat (pid %s)"):format(
      port(96), app), 1, true), table.concat(hop.evidence, "\n"))
    assert.is_nil(hop.fix:find("connect to 127.0.0.1", 1, true))
    -- the same app behind a DNAT rule: the rule is what connects
    sh_ns(("iptables -t nat -A OUTPUT -d %s.104 -p tcp --dport %d -j DNAT --to-destination %s:%d"):format(subnet,
      port(80), up, port(96)))
    doc, f = diagnose { subnet .. ".104:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    assert.matches(("instead of 127.0.0.1 only: the DNAT rule in chain OUTPUT connects to %s:%d"):format(up,
      port(96)), f["upstream-failing"].fix, 1, true)
  end)

  it("docker-proxy: its -container-ip/-container-port are followed", function()
    if not testenv.have("docker-proxy") then
      return pending("docker-proxy not installed (docker.io)")
    end
    upstream_namespace()
    -- the classic: the app binds loopback inside its "container"
    testenv.tcp_listen(far, port(87), { bind = "127.0.0.1" })
    -- docker-proxy tells its parent it is ready on fd 3: give it one
    testenv.background_in(netns(), ("timeout 60 docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port %d "
      .. "-container-ip %s.2 -container-port %d 3>/dev/null"):format(port(80), subnet, port(87)))
    assert(testenv.wait_listening(netns(), "tcp", port(80)))
    local doc, f = diagnose { "127.0.0.1:" .. port(80) }
    assert.equal("upstream-failing", doc.verdict)
    assert.matches("accepted by docker%-proxy %(pid %d+%)", f["upstream-failing"].summary)
    assert.matches("bound to 127%.0%.0%.1 only", f["upstream-failing"].summary)
    assert.matches("→ address%-mismatch$", path_of(f["upstream-failing"]))
    assert.matches(("make socat %%(pid %%d+%%) listen on %s%%.2 .* docker%%-proxy %%(pid %%d+%%) connects to"):format(
      subnet:gsub("%.", "%%.")), f["upstream-failing"].fix)
  end)
end)
