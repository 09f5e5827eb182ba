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
    assert.matches("accepted by socat %(pid %d+%), which forwards it to " .. subnet:gsub("%.", "%%.") .. "%.2:"
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
  end)
end)
