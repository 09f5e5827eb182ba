-- connrecipe.hops: forwarders read from their command lines; the DNAT
-- destinations the firewall parsers keep; the matcher's DNAT walk. Pure.
require "connrecipe" -- the embedded Lua modules
local hops = require "connrecipe.hops"
local kube = require "connrecipe.checks.kube"
local R = require "connrecipe.firewall.rule"
local iptables = require "connrecipe.firewall.iptables"
local match = require "connrecipe.firewall.match"

local function words(s)
  local out = {}
  for w in s:gmatch("%S+") do
    out[#out + 1] = w
  end
  return out
end

describe("hops.forwarder", function()
  it("docker-proxy: -container-ip and -container-port, either flag spelling", function()
    local f = hops.forwarder(words("/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 "
      .. "-container-ip 172.17.0.2 -container-port 80"), 8080)
    assert.same({ tool = "docker-proxy", upstream = { host = "172.17.0.2", port = 80 } }, f)
    f = hops.forwarder(words("docker-proxy --container-ip=172.17.0.3 --container-port=81"), 8080)
    assert.same({ host = "172.17.0.3", port = 81 }, f.upstream)
    assert.is_nil(hops.forwarder(words("docker-proxy -proto udp -container-ip 1.2.3.4 -container-port 53"), 53)
      .upstream)
  end)

  it("socat: TCP, TCP4, TCP6 (bracketed), UNIX-CONNECT, options after a comma; listening addresses skipped", function()
    local cases = {
      { "socat TCP-LISTEN:8080,fork,reuseaddr TCP:10.0.0.2:80", { host = "10.0.0.2", port = 80 } },
      { "socat -d -d tcp4-listen:8080 tcp4:db.internal:5432,connect-timeout=2", { host = "db.internal", port = 5432 } },
      { "socat TCP6-LISTEN:8080 TCP6:[fd00::2]:80", { host = "fd00::2", port = 80 } },
      { "socat TCP-LISTEN:8080,fork UNIX-CONNECT:/run/app.sock,retry=3", { path = "/run/app.sock" } },
    }
    for _, c in ipairs(cases) do
      assert.same(c[2], hops.forwarder(words(c[1]), 8080).upstream, c[1])
    end
    assert.is_nil(hops.forwarder(words("socat TCP-LISTEN:8080,fork TCP:10.0.0.2:80"), 8080).tls_ends)
    assert.is_true(hops.forwarder(words("socat OPENSSL-LISTEN:8443,cert=c.pem TCP:10.0.0.2:80"), 8443).tls_ends)
    assert.is_true(hops.forwarder(words("socat ssl-l:8443,cert=c.pem TCP:10.0.0.2:80"), 8443).tls_ends)
  end)

  it("socat: every address type that connects onwards is a forwarder, either order, options before", function()
    local cases = {
      { "socat TCP-LISTEN:8080,fork TCP-CONNECT:10.0.0.2:80", { host = "10.0.0.2", port = 80 } },
      { "socat TCP-L:8080 tcp6-connect:[::1]:81", { host = "::1", port = 81 } },
      { "socat TCP-LISTEN:8080 UNIX-CLIENT:/run/app.sock", { path = "/run/app.sock" } },
      { "socat TCP:10.0.0.2:80 TCP-LISTEN:8080,fork", { host = "10.0.0.2", port = 80 } },
      { "socat -d -d -t 5 -lf /var/log/s.log TCP4-LISTEN:8080 TCP4:10.0.0.2:80", { host = "10.0.0.2", port = 80 } },
    }
    for _, c in ipairs(cases) do
      assert.same({ tool = "socat", upstream = c[2] }, hops.forwarder(words(c[1]), 8080), c[1])
    end
    -- onwards, but not over TCP or to a Unix socket: named, not followed
    for _, second in ipairs { "OPENSSL:db:5432,verify=0", "SSL:db:443", "UDP:10.0.0.2:53", "UDP4-SENDTO:1.2.3.4:9",
      "SOCKS4A:proxy:db:5432,socksport=1080", "PROXY:proxy:db:443", "TCP:db" } do
      local f = hops.forwarder(words("socat TCP-LISTEN:8080,fork " .. second), 8080)
      local kind = second:match("^[%w-]+")
      assert.equal("socat", f.tool, second)
      assert.is_nil(f.upstream, second)
      assert.equal(("its %s address is not a TCP or Unix socket address diagnose can follow"):format(kind), f.why)
    end
    -- a type diagnose does not know may forward: said so, never printed past its name
    assert.equal("diagnose does not know where socat's VSOCK-FUTURE address sends the connection",
      hops.forwarder(words("socat TCP-LISTEN:8080 vsock-future:3:80"), 8080).why)
  end)

  it("socat: an address that serves (a program, a file, stdio, a pty): socat is the server, not a forwarder", function()
    local serving = {
      { "socat", "TCP-LISTEN:8080,fork", "SYSTEM:echo hi" }, -- SYSTEM:'echo hi' as the shell leaves it
      { "socat", "TCP-LISTEN:8080,fork,reuseaddr", "EXEC:/bin/cat" },
      { "socat", "tcp4-listen:8080", "exec:cat,pty,stderr" },
      { "socat", "OPENSSL-LISTEN:8443,cert=c.pem", "SYSTEM:sleep 1" },
      { "socat", "-u", "TCP-LISTEN:8080", "FILE:/tmp/out,create" },
      { "socat", "TCP-LISTEN:8080", "OPEN:/tmp/in" },
      { "socat", "TCP-LISTEN:8080", "CREATE:/tmp/out" },
      { "socat", "TCP-LISTEN:8080", "GOPEN:/dev/null" },
      { "socat", "TCP-LISTEN:8080", "/tmp/out" }, -- GOPEN without its name
      { "socat", "-", "TCP-LISTEN:8080" },
      { "socat", "STDIO", "TCP-LISTEN:8080" },
      { "socat", "TCP-LISTEN:8080", "STDIN!!STDOUT" },
      { "socat", "TCP-LISTEN:8080", "PIPE" },
      { "socat", "TCP-LISTEN:8080", "PTY,link=/tmp/serial" },
      { "socat", "TCP-LISTEN:8080", "3" }, -- FD without its name
      { "socat", "TCP-LISTEN:8080", "UNIX-LISTEN:/tmp/s" }, -- two listeners: a relay between clients
    }
    for _, cmdline in ipairs(serving) do
      assert.is_nil(hops.forwarder(cmdline, 8080), table.concat(cmdline, " "))
    end
  end)

  it("ssh -L: named, with where it continues; not followed", function()
    local f = hops.forwarder(words("ssh -N -L 127.0.0.1:8080:db:5432 admin@bastion"), 8080)
    assert.equal("ssh -L", f.tool)
    assert.is_nil(f.upstream)
    assert.matches("to db:5432 from the ssh server %(admin@bastion%)", f.why)
    f = hops.forwarder(words("ssh -L8081:localhost:80 host"), 8081)
    assert.matches("to localhost:80", f.why)
    assert.matches("no %-L forward of this port", hops.forwarder(words("ssh -L 9:a:1 host"), 8080).why)
  end)

  it("kubectl port-forward: the pod or service and its namespace", function()
    local f = hops.forwarder(words("kubectl port-forward -n shop svc/web 8080:80"), 8080)
    assert.equal("kubectl port-forward", f.tool)
    assert.matches("svc/web in namespace shop", f.why)
    assert.is_nil(hops.forwarder(words("kubectl get pods"), 8080))
  end)

  it("rootlesskit and slirp4netns are named; anything else is not a forwarder", function()
    assert.equal("rootlesskit", hops.forwarder(words("rootlesskit --net=slirp4netns dockerd"), 80).tool)
    assert.equal("slirp4netns", hops.forwarder(words("slirp4netns --configure 123 tap0"), 80).tool)
    assert.is_nil(hops.forwarder(words("nginx -g daemon off;"), 80))
    assert.is_nil(hops.forwarder({}, 80))
    assert.is_nil(hops.forwarder(nil, 80))
  end)

  it("hops.endpoint", function()
    assert.equal("10.0.0.2:80", hops.endpoint { host = "10.0.0.2", port = 80 })
    assert.equal("[fd00::2]:80", hops.endpoint { host = "fd00::2", port = 80 })
    assert.equal("unix:/run/a.sock", hops.endpoint { path = "/run/a.sock" })
  end)
end)

describe("DNAT rules", function()
  it("iptables --to-destination: address, port, IPv6 brackets; a range names no endpoint", function()
    assert.same({ addr = "10.0.0.2", port = 80 }, R.dnat_destination("10.0.0.2:80"))
    assert.same({ addr = "10.0.0.2" }, R.dnat_destination("10.0.0.2"))
    assert.same({ addr = "fd00::2", port = 80 }, R.dnat_destination("[fd00::2]:80"))
    assert.is_nil(R.dnat_destination("10.0.0.2-10.0.0.9:80"))
  end)

  -- kube-proxy's nat chains for a Service with two endpoints
  local SAVE = table.concat({
    "*nat",
    ":PREROUTING ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":KUBE-SERVICES - [0:0]",
    ":KUBE-SVC-A - [0:0]",
    ":KUBE-SEP-1 - [0:0]",
    ":KUBE-SEP-2 - [0:0]",
    "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
    "-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment \"shop/web:http cluster IP\" -m tcp --dport 80 "
      .. "-j KUBE-SVC-A",
    "-A KUBE-SVC-A -m comment --comment \"shop/web:http -> 10.244.0.5:8080\" -m statistic --mode random "
      .. "--probability 0.5 -j KUBE-SEP-1",
    "-A KUBE-SVC-A -m comment --comment \"shop/web:http -> 10.244.0.6:8080\" -j KUBE-SEP-2",
    "-A KUBE-SEP-1 -p tcp -m comment --comment \"shop/web:http\" -m tcp -j DNAT --to-destination 10.244.0.5:8080",
    "-A KUBE-SEP-2 -p tcp -m comment --comment \"shop/web:http\" -m tcp -j DNAT --to-destination 10.244.0.6:8080",
    "COMMIT", "" }, "\n")

  it("the matcher meets every endpoint of a kube-proxy Service, the random one uncertain", function()
    local rules = assert(iptables.parse(SAVE, "ip", "nft"))
    local _, info = match.match({ addr = "10.96.0.10", port = 80, rules = rules, ["local"] = false },
      { interfaces = function() return {} end })
    assert.equal(2, #info.dnat)
    assert.same({ addr = "10.244.0.5", port = 8080 }, info.dnat[1].dnat)
    assert.is_false(info.dnat[1].certain)
    assert.same({ addr = "10.244.0.6", port = 8080 }, info.dnat[2].dnat)
    assert.equal("KUBE-SEP-2", info.dnat[2].chain)
    local _, other = match.match({ addr = "10.96.0.11", port = 80, rules = rules, ["local"] = false },
      { interfaces = function() return {} end })
    assert.same({}, other.dnat)
  end)

  it("kube-proxy's comments name the Service", function()
    assert.same({ namespace = "shop", service = "web", port = "http", only_local = false },
      kube.service_of("shop/web:http has no endpoints"))
    assert.is_true(kube.service_of("shop/web:http has no local endpoints").only_local)
    assert.same({ namespace = "shop", service = "cart", port = "http", only_local = false },
      kube.service_of("shop/cart:http", "ip daddr . meta l4proto . th dport vmap @no-endpoint-services"))
    assert.is_nil(kube.service_of("shop/cart:http", "tcp dport 80 drop"))
    assert.is_nil(kube.service_of(nil))
  end)
end)
