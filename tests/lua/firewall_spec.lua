-- cr.firewall against real nftables and iptables rules in private network
-- namespaces, and the nft -j parser against fixture files.
local cr = require "connrecipe"
local testenv = require "testenv"
local json = require "connrecipe.json"

local fixtures = testenv.source_dir .. "/tests/fixtures/sysfacts/"

-- Runs Lua code with the connrecipe executable inside namespace ns; the code
-- prints one JSON document, returned decoded.
local function lua_in(ns, code)
  return json.decode(testenv.cr_ok(ns, code))
end

local sh_ok, sh_in = testenv.sh_ok, testenv.sh_in

-- What the kernel does with a TCP connect to each port on host (127.0.0.1) inside ns:
-- port -> "connected" | "refused" | "timeout". A listener waits on every port.
local PROBE = [==[
import socket, sys
host = sys.argv[1]
ports = [int(p) for p in sys.argv[2:]]
listeners = []
for p in ports:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, p)); s.listen(8); listeners.append(s)
for p in ports:
    c = socket.socket(); c.settimeout(1.0)
    try:
        c.connect((host, p)); r = "connected"
    except ConnectionRefusedError:
        r = "refused"
    except OSError:
        r = "timeout"
    print(p, r); c.close()
]==]
local function kernel_outcomes(ns, ports, host)
  local dir = testenv.tmpdir()
  testenv.write_file(dir .. "/probe.py", PROBE)
  local r = sh_ok(testenv.in_netns(ns, "python3 " .. dir .. "/probe.py " .. (host or "127.0.0.1") .. " "
    .. table.concat(ports, " ")))
  local out = {}
  for port, what in r.stdout:gmatch("(%d+) (%a+)") do
    out[tonumber(port)] = what
  end
  return out
end

-- The outcome a connect should see, from the matcher's verdict.
local function expected_outcome(result)
  if result.verdict == "accept" then
    return "connected"
  end
  local last = result.hits[#result.hits]
  return last.action == "reject" and "refused" or "timeout"
end

-- The match queries run inside the namespace: name -> query
local MATCH_CODE = [[
local json = require "connrecipe.json"
local rules, notes = cr.firewall.rules()
assert(rules, notes)
local out = { rules = rules, notes = notes, results = {} }
for name, q in pairs(QUERIES) do
  q.rules = rules
  local hits, info = cr.firewall.match(q)
  q.rules = nil
  out.results[name] = { hits = json.array(hits), verdict = info.verdict }
end
print(json.encode(out))
]]

local function run_matches(ns, queries)
  local parts = {}
  for name, q in pairs(queries) do
    local fields = {}
    for k, v in pairs(q) do
      fields[#fields + 1] = ("[%q] = %q"):format(k, v)
    end
    parts[#parts + 1] = ("[%q] = { %s }"):format(name, table.concat(fields, ", "))
  end
  local code = "local QUERIES = { " .. table.concat(parts, ", ") .. " }\n" .. MATCH_CODE
  return lua_in(ns, code)
end

local function actions(result)
  local t = {}
  for _, h in ipairs(result.hits) do
    t[#t + 1] = h.action .. (h.policy and " policy" or "") .. (h.certain and "" or "?")
  end
  return table.concat(t, ",")
end

describe("cr.firewall with nftables", function()
  local ns, out
  -- gate.why: why these tests cannot run here (not root, nft missing), or nil
  local gate = testenv.setup_gate(function(why)
    pending(why)
  end)
  setup(function()
    gate.why = testenv.needs_root() or (not testenv.have("nft") and "nft not installed") or nil
    if gate.why then
      return
    end
    ns = testenv.netns()
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/rules.nft", [[
table inet t {
  chain input {
    type filter hook input priority 0; policy accept;
    iif "lo" tcp dport 8080 drop
    tcp dport 8081 reject with tcp reset
    tcp dport 8082 reject with icmpx type port-unreachable
    udp dport 5353 counter reject
    tcp dport { 7000, 7100-7200 } jump userc
    meta mark 0x1 tcp dport 8500 drop
  }
  chain userc {
    ip daddr 127.0.0.1 drop
  }
}
table ip pol {
  chain input {
    type filter hook input priority 10; policy drop;
    ct state established,related accept
    tcp dport { 7000-9000 } accept
    udp dport 5353 accept
  }
}
]])
    sh_in(ns, "nft -f " .. dir .. "/rules.nft")
    out = run_matches(ns, {
      lo_only = { proto = "tcp", addr = "127.0.0.1", port = 8080, direction = "in" },
      lo_only_other_if = { proto = "tcp", addr = "10.9.9.1", port = 8080, direction = "in", iif = "eth9" },
      reset = { proto = "tcp", addr = "127.0.0.1", port = 8081, direction = "in" },
      icmp = { proto = "tcp", addr = "127.0.0.1", port = 8082, direction = "in" },
      udp = { proto = "udp", addr = "127.0.0.1", port = 5353, direction = "in" },
      jump = { proto = "tcp", addr = "127.0.0.1", port = 7150, direction = "in" },
      jump_miss = { proto = "tcp", addr = "127.0.0.2", port = 7000, direction = "in" },
      policy = { proto = "tcp", addr = "127.0.0.1", port = 9999, direction = "in" },
      ipv6_policy_free = { proto = "tcp", addr = "::1", port = 9999, direction = "in" },
      out_only = { proto = "tcp", addr = "127.0.0.1", port = 8080, direction = "out" },
      both = { proto = "tcp", addr = "127.0.0.1", port = 8080 },
      unknown = { proto = "tcp", addr = "127.0.0.1", port = 8500, direction = "in" },
      unknown_then_policy = { proto = "tcp", addr = "127.0.0.1", port = 6000, direction = "in" },
    })
  end)

  it("normalises the rule set, policies included", function()
    gate.check()
    local found = {}
    for _, r in ipairs(out.rules) do
      assert.equal("nft", r.source)
      found[r.table .. "/" .. r.chain .. "/" .. (r.text or "")] = r
    end
    local lo = found['t/input/iif "lo" tcp dport 8080 drop']
    assert.is_table(lo)
    assert.equal("drop", lo.action)
    assert.equal("input", lo.hook)
    assert.equal("lo", lo.iif)
    assert.equal("tcp", lo.proto)
    assert.same({ { 8080, 8080 } }, lo.dports)
    local reset = found["t/input/tcp dport 8081 reject with tcp reset"]
    assert.equal("reject", reset.action)
    assert.equal("tcp reset", reset.reject_with)
    local policy = found["pol/input/policy drop"]
    assert.is_true(policy.policy)
    assert.equal("drop", policy.action)
    local counted = found["t/input/udp dport 5353 counter packets 0 bytes 0 reject"]
    assert.equal(0, counted.packets)
  end)

  it("finds a drop on lo only for loopback traffic", function()
    gate.check()
    assert.equal("drop", out.results.lo_only.verdict)
    assert.equal("drop", actions(out.results.lo_only))
    assert.equal('iif "lo" tcp dport 8080 drop', out.results.lo_only.hits[1].text)
    -- the same port arriving on another interface passes table t and is
    -- accepted by table pol
    assert.equal("accept", out.results.lo_only_other_if.verdict)
    assert.equal(0, #out.results.lo_only_other_if.hits)
  end)

  it("tells reject with tcp reset from an icmp reject", function()
    gate.check()
    assert.equal("reject", out.results.reset.hits[1].action)
    assert.equal("tcp reset", out.results.reset.hits[1].reject_with)
    assert.equal("icmpx port-unreachable", out.results.icmp.hits[1].reject_with)
    assert.equal("icmpx port-unreachable", out.results.udp.hits[1].reject_with)
  end)

  it("follows a jump into a user chain, and out again when nothing matches", function()
    gate.check()
    assert.equal("drop", out.results.jump.verdict)
    assert.equal("userc", out.results.jump.hits[1].chain)
    assert.equal("accept", out.results.jump_miss.verdict)
  end)

  it("reports a policy drop, and only for the family it covers", function()
    gate.check()
    assert.equal("drop policy", actions(out.results.policy))
    assert.equal("accept", out.results.ipv6_policy_free.verdict)
  end)

  it("maps direction to hooks: out sees output, none sees both", function()
    gate.check()
    assert.equal("accept", out.results.out_only.verdict)
    assert.equal("drop", out.results.both.verdict)
    assert.equal("input", out.results.both.hits[1].hook)
  end)

  it("agrees with what the kernel does to real connections", function()
    gate.check()
    if not testenv.have("python3") then
      pending("python3 not installed")
    end
    local cases = { lo_only = 8080, reset = 8081, icmp = 8082, jump = 7150, policy = 9999 }
    local ports = {}
    for _, p in pairs(cases) do
      ports[#ports + 1] = p
    end
    local seen = kernel_outcomes(ns, ports)
    for name, port in pairs(cases) do
      assert.equal(expected_outcome(out.results[name]), seen[port], name .. " port " .. port)
    end
  end)

  it("keeps an unknown expression and flags the rule as uncertain", function()
    gate.check()
    local r = out.results.unknown
    assert.equal("unknown", r.verdict)
    assert.equal("drop?", actions(r))
    assert.matches("mark", r.hits[1].uncertain[1])
    -- a certain drop later still decides
    assert.equal("drop", out.results.unknown_then_policy.verdict)
  end)
end)

describe("cr.firewall with iptables", function()
  local ns, out
  -- gate.why: why these tests cannot run here (not root, iptables missing), or nil
  local gate = testenv.setup_gate(function(why)
    pending(why)
  end)
  setup(function()
    gate.why = testenv.needs_root() or (not testenv.have("iptables") and "iptables not installed") or nil
    if gate.why then
      return
    end
    ns = testenv.netns()
    local cmds = {
      "iptables -N USERC",
      "iptables -A INPUT -i lo -p tcp --dport 8080 -j DROP",
      "iptables -A INPUT -p tcp --dport 8081 -j REJECT --reject-with tcp-reset",
      "iptables -A INPUT -p udp --dport 5353 -j REJECT",
      "iptables -A INPUT -p tcp -m multiport --dports 7000,7100:7200 -j USERC",
      "iptables -A INPUT -p tcp --dport 6000 -m recent --rcheck --seconds 60 -j DROP",
      "iptables -N USERC2",
      "iptables -A INPUT -p tcp --dport 7300:7310 -g USERC2",
      "iptables -A INPUT -p tcp --dport 7305 -j ACCEPT", -- never reached: goto does not come back
      "iptables -A USERC2 -p tcp --dport 7301 -j DROP",
      "iptables -A USERC2 -j RETURN",
      "iptables -A USERC -d 127.0.0.1 -j DROP",
      "iptables -A USERC -j RETURN",
      "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
      "iptables -A INPUT -p tcp --dport 9000 -m comment --comment 'web \"ui\"' -j ACCEPT",
      "iptables -A INPUT -p tcp --dport 6000 -j ACCEPT",
      "iptables -P INPUT DROP",
      "ip6tables -A INPUT -p tcp --dport 8080 -j REJECT --reject-with icmp6-port-unreachable",
    }
    if testenv.have("iptables-legacy") then
      cmds[#cmds + 1] = "iptables-legacy -A OUTPUT -p tcp --dport 8443 -j REJECT --reject-with tcp-reset"
    end
    for _, c in ipairs(cmds) do
      sh_in(ns, c)
    end
    -- a second local address, on a veth pair (dummy needs a module)
    sh_in(ns, "ip link add x0 type veth peer name x1")
    sh_in(ns, "ip addr add 10.77.0.1/24 dev x0")
    sh_in(ns, "ip link set x0 up")
    sh_in(ns, "ip link set x1 up")
    out = run_matches(ns, {
      lo_only = { proto = "tcp", addr = "127.0.0.1", port = 8080, direction = "in" },
      reset = { proto = "tcp", addr = "127.0.0.1", port = 8081, direction = "in" },
      udp = { proto = "udp", addr = "127.0.0.1", port = 5353, direction = "in" },
      jump = { proto = "tcp", addr = "127.0.0.1", port = 7150, direction = "in" },
      jump_return = { proto = "tcp", addr = "127.0.0.3", port = 7000, direction = "in" },
      accepted = { proto = "tcp", addr = "127.0.0.1", port = 9000, direction = "in" },
      goto_drop = { proto = "tcp", addr = "127.0.0.1", port = 7301, direction = "in" },
      local_addr = { proto = "tcp", addr = "10.77.0.1", port = 8080 },
      local_addr_declared_remote = { proto = "tcp", addr = "10.77.0.1", port = 8080, ["local"] = false },
      goto_return = { proto = "tcp", addr = "127.0.0.1", port = 7305, direction = "in" },
      unknown = { proto = "tcp", addr = "127.0.0.1", port = 6000, direction = "in" },
      ipv6 = { proto = "tcp", addr = "::1", port = 8080, direction = "in" },
      ipv6_other = { proto = "tcp", addr = "::1", port = 8081, direction = "in" },
      legacy = { proto = "tcp", addr = "127.0.0.1", port = 8443, direction = "out" },
    })
  end)

  it("reads iptables-save with the rule text, counters and policies", function()
    gate.check()
    local texts = {}
    for _, r in ipairs(out.rules) do
      if r.source == "iptables" then
        texts[r.text] = r
      end
      -- the tables iptables-nft wrote are not listed twice
      assert.is_false(r.source == "nft" and r.table == "filter")
    end
    local multi = texts["-A INPUT -p tcp -m multiport --dports 7000,7100:7200 -j USERC"]
    assert.is_table(multi)
    assert.equal("jump", multi.action)
    assert.equal("USERC", multi.target)
    assert.same({ { 7000, 7000 }, { 7100, 7200 } }, multi.dports)
    assert.equal("nft", multi.backend)
    assert.equal(0, multi.packets)
    local policy = texts[":INPUT DROP [0:0]"]
    assert.is_true(policy.policy)
    assert.equal("drop", policy.action)
    local comment = texts['-A INPUT -p tcp -m tcp --dport 9000 -m comment --comment "web \\"ui\\"" -j ACCEPT']
    assert.is_table(comment, "comment rule text")
    assert.equal('web "ui"', comment.comment)
    assert.is_nil(comment.unknown)
  end)

  it("matches drop on lo, reject with tcp-reset and the default icmp reject", function()
    gate.check()
    assert.equal("drop", actions(out.results.lo_only))
    assert.equal("-A INPUT -i lo -p tcp -m tcp --dport 8080 -j DROP", out.results.lo_only.hits[1].text)
    assert.equal("tcp-reset", out.results.reset.hits[1].reject_with)
    assert.equal("icmp-port-unreachable", out.results.udp.hits[1].reject_with)
  end)

  it("follows -j USERC, and RETURN back to the policy", function()
    gate.check()
    assert.equal("USERC", out.results.jump.hits[1].chain)
    assert.equal("drop", out.results.jump.verdict)
    local r = out.results.jump_return
    assert.equal("drop policy", actions(r))
    assert.equal("INPUT", r.hits[1].chain)
  end)

  it("knows traffic to the host's own non-loopback address crosses lo", function()
    gate.check()
    local r = out.results.local_addr
    assert.equal("drop", r.verdict)
    assert.equal("-A INPUT -i lo -p tcp -m tcp --dport 8080 -j DROP", r.hits[1].text)
    -- told it is remote, only the output hooks count, and nothing drops there
    assert.equal("accept", out.results.local_addr_declared_remote.verdict)
    if testenv.have("python3") then
      assert.equal("timeout", kernel_outcomes(ns, { 8080 }, "10.77.0.1")[8080])
    end
  end)

  it("does not come back from -g: RETURN there ends INPUT at its policy", function()
    gate.check()
    assert.equal("USERC2", out.results.goto_drop.hits[1].chain)
    assert.equal("drop policy", actions(out.results.goto_return))
  end)

  it("lets an accepted port through past the policy", function()
    gate.check()
    assert.equal("accept", out.results.accepted.verdict)
    assert.equal(0, #out.results.accepted.hits)
  end)

  it("agrees with what the kernel does to real connections", function()
    gate.check()
    if not testenv.have("python3") then
      pending("python3 not installed")
    end
    local cases = {
      lo_only = 8080, reset = 8081, jump = 7150, accepted = 9000, goto_drop = 7301,
      goto_return = 7305,
    }
    local ports = {}
    for _, p in pairs(cases) do
      ports[#ports + 1] = p
    end
    local seen = kernel_outcomes(ns, ports)
    for name, port in pairs(cases) do
      assert.equal(expected_outcome(out.results[name]), seen[port], name .. " port " .. port)
    end
  end)

  it("flags an unknown match module instead of ignoring it", function()
    gate.check()
    local r = out.results.unknown
    assert.equal("drop?", actions(r))
    assert.equal("unknown", r.verdict)
    assert.matches("%-m recent", r.hits[1].uncertain[1])
  end)

  it("reads ip6tables for IPv6 packets only", function()
    gate.check()
    assert.equal("icmp6-port-unreachable", out.results.ipv6.hits[1].reject_with)
    assert.equal("ip6", out.results.ipv6.hits[1].family)
    assert.equal("accept", out.results.ipv6_other.verdict)
  end)

  it("reads the legacy back end too", function()
    gate.check()
    if not testenv.have("iptables-legacy") then
      pending("iptables-legacy not installed")
    end
    local hit = out.results.legacy.hits[1]
    assert.equal("legacy", hit.backend)
    assert.equal("OUTPUT", hit.chain)
    assert.equal("tcp-reset", hit.reject_with)
  end)
end)

describe("cr.firewall failures", function()
  it("gives nil, reason for malformed nft -j output, never a crash", function()
    for _, name in ipairs({ "nft-malformed.json", "nft-wrong-shape.json" }) do
      local rules, err = cr.firewall.parse_nft(testenv.read_file(fixtures .. name))
      assert.is_nil(rules)
      assert.matches("^cannot parse nft %-j output", err)
    end
    assert.is_nil((cr.firewall.parse_nft("")))
    assert.is_nil((cr.firewall.parse_nft('{"nftables": [1, 2]}')))
    assert.is_nil((cr.firewall.parse_nft("[]")))
  end)

  it("parses a real nft ruleset fixture with its rule texts", function()
    local rules = assert(cr.firewall.parse_nft(testenv.read_file(fixtures .. "nft-ruleset.json"),
      testenv.read_file(fixtures .. "nft-ruleset.txt")))
    local function match(q)
      q.rules = rules
      return cr.firewall.match(q)
    end
    -- dport < 1024 with ct state new: the first packet of a connection
    local hits, info = match({ proto = "tcp", addr = "127.0.0.1", port = 22, direction = "in" })
    assert.equal("drop", info.verdict)
    assert.equal("tcp dport < 1024 ct state invalid,new counter packets 0 bytes 0 drop", hits[1].text)
    hits = match({ proto = "tcp", addr = "127.0.0.1", port = 8085, direction = "in" })
    assert.equal("tcp dport { 8081-8090 } reject with tcp reset", hits[1].text)
    assert.same({ { 8081, 8090 } }, hits[1].dports)
    -- ip saddr @bad: a named set with a prefix
    hits, info = match({ proto = "tcp", addr = "10.0.0.1", port = 4000, direction = "in", saddr = "10.1.2.3" })
    assert.equal("ip saddr @bad drop", hits[1].text)
    assert.equal("drop", info.verdict)
    hits, info = match({ proto = "tcp", addr = "10.0.0.1", port = 4000, direction = "in", saddr = "192.0.2.1" })
    assert.equal(0, #hits)
    assert.equal("accept", info.verdict)
    -- oifname "eth*" matches eth0, not lo
    hits = match({ proto = "tcp", addr = "192.0.2.1", port = 25, direction = "out", oif = "eth0" })
    assert.equal("reject", hits[1].action)
    hits, info = match({ proto = "tcp", addr = "127.0.0.1", port = 25, direction = "out" })
    assert.equal(0, #hits)
    assert.equal("accept", info.verdict)
    -- goto for ::1 lands in userc, whose IPv4 drop does not apply: accepted
    hits, info = match({ proto = "tcp", addr = "::1", port = 4000, direction = "in" })
    assert.equal(0, #hits)
    assert.equal("accept", info.verdict)
  end)

  it("parses unknown expressions and verdict maps from a fixture", function()
    local rules = assert(cr.firewall.parse_nft(testenv.read_file(fixtures .. "nft-unknown.json")))
    local hits, info = cr.firewall.match({ proto = "tcp", addr = "127.0.0.1", port = 9090, direction = "in",
      rules = rules })
    -- the rate-limited accept might let it through: the reject is not certain
    assert.equal("unknown", info.verdict)
    assert.equal(2, #hits)
    assert.equal("drop", hits[1].action) -- meta mark: cannot tell
    assert.matches("mark", hits[1].uncertain[1])
    assert.equal("reject", hits[2].action)
    assert.is_false(hits[2].certain)
    assert.equal(1, #info.doubts)
    hits, info = cr.firewall.match({ proto = "tcp", addr = "127.0.0.1", port = 23, direction = "in", rules = rules })
    assert.equal("drop", hits[#hits].action)
    assert.is_true(hits[#hits].certain)
    assert.equal("drop", info.verdict)
    -- vmap accepts 22: only the uncertain mark rule is left
    hits, info = cr.firewall.match({ proto = "tcp", addr = "127.0.0.1", port = 22, direction = "in", rules = rules })
    assert.equal(1, #hits)
    assert.equal("unknown", info.verdict)
  end)

  it("survives mutated nft -j and iptables-save input without raising", function()
    local seeds = {
      testenv.read_file(fixtures .. "nft-ruleset.json"),
      testenv.read_file(fixtures .. "iptables-save.txt"),
    }
    local alphabet = '{}[]":,0123456789 -!abcdefghijklmnopqrstuvwxyz@/\n'
    math.randomseed(12345)
    local parsed = 0
    for i = 1, 3000 do -- bounded: a few seconds at most
      local text = seeds[i % 2 + 1]
      for _ = 1, math.random(1, 4) do
        local pos = math.random(1, #text)
        local kind = math.random(1, 3)
        if kind == 1 then -- delete a span
          text = text:sub(1, pos - 1) .. text:sub(pos + math.random(1, 8))
        elseif kind == 2 then -- insert a character
          local c = math.random(1, #alphabet)
          text = text:sub(1, pos - 1) .. alphabet:sub(c, c) .. text:sub(pos)
        else -- duplicate a span
          text = text:sub(1, pos) .. text:sub(pos, pos + math.random(1, 30)) .. text:sub(pos + 1)
        end
      end
      local parse = i % 2 == 0 and cr.firewall.parse_nft or cr.firewall.parse_iptables_save
      local ok, rules, err = pcall(parse, text)
      assert.is_true(ok, rules)
      if rules then
        parsed = parsed + 1
        local mok, merr = pcall(cr.firewall.match, { proto = "tcp", addr = "127.0.0.1", port = 8080, rules = rules })
        assert.is_true(mok, merr)
      else
        assert.is_string(err)
      end
    end
    assert.is_true(parsed > 0)
  end)

  it("loads without lua-cjson and says it is missing when JSON is needed", function()
    -- the executable ignores LUA_CPATH: the chunk leaves require nothing but
    -- connrecipe's own modules, as on a host without the package
    local r = testenv.run({ "-e", 'package.searchers = { package.searchers[1] }; '
      .. 'print(#cr.sys.interfaces() > 0, cr.firewall.parse_nft("{}"))' })
    assert.equal(0, r.code, r.stderr)
    assert.equal("true\tnil\tcannot parse nft -j output: lua-cjson not installed (Debian package lua-cjson)\n",
      r.stdout)
  end)

  it("raises on bad match arguments", function()
    assert.has_error(function()
      cr.firewall.match({ proto = "tcp", addr = "nope", port = 1, rules = {} })
    end)
    assert.has_error(function()
      cr.firewall.match({ proto = "icmp", addr = "127.0.0.1", port = 1, rules = {} })
    end)
    assert.has_error(function()
      cr.firewall.match({ addr = "127.0.0.1", port = 1, direction = "sideways", rules = {} })
    end)
  end)

  it("says which tools are missing", function()
    local r = testenv.run({ "-e", 'local r, e = cr.firewall.rules(); print(r, e)' }, { env = "PATH=/nonexistent" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("^nil\tnft not installed; iptables%-save not installed", r.stdout)
  end)

  it("gives nil, reason when a fake nft prints broken JSON", function()
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/nft", "#!/bin/sh\ncat " .. fixtures .. "nft-malformed.json\n")
    os.execute("chmod +x " .. dir .. "/nft")
    local r = testenv.run({ "-e", 'local r, e = cr.firewall.rules(); print(r, e)' },
      { env = "PATH=" .. dir .. ":/usr/bin:/bin" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("^nil\tcannot parse nft %-j output", r.stdout)
  end)

  it("says permission denied, with the code, to an unprivileged user", function()
    if testenv.needs_root() or not testenv.have("setpriv") then
      pending("needs root and setpriv to drop privileges")
    end
    local ns = testenv.netns()
    local r = testenv.sh(testenv.in_netns(ns, "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "
      .. testenv.quote(testenv.bin) .. " -e 'print(cr.firewall.rules())'"))
    assert.equal(0, r.code, r.stderr)
    assert.equal("nil\tpermission denied\tEPERM\n", r.stdout)
  end)

  it("runs the tools in a named namespace from outside", function()
    if testenv.needs_root() then
      pending(testenv.needs_root())
    end
    local ns = testenv.netns()
    sh_in(ns, "nft add table inet outside")
    sh_in(ns, "nft add chain inet outside c '{ type filter hook output priority 0; policy drop; }'")
    local hits, info = cr.run(function()
      return cr.firewall.match({ proto = "tcp", addr = "127.0.0.1", port = 80, direction = "out", netns = ns })
    end)
    assert.is_table(hits, info)
    assert.equal("drop", info.verdict)
    assert.equal("outside", hits[1].table)
    local _, err = cr.run(function()
      return cr.firewall.rules("no-such-ns-xyz")
    end)
    assert.matches("not found", err)
  end)
end)

teardown(function()
  testenv.cleanup()
end)
