-- Special addresses as targets: 0, 0.0.0.0 and [::] are this host (the
-- kernel sends a connection to them to 127.0.0.1 or ::1), and an IPv4-mapped
-- [::ffff:127.0.0.1] is IPv4 127.0.0.1 for listener matching, firewall
-- matching and family checks. Host names beyond DNS's length limits are
-- usage errors. Real socat listeners and nft rules in private namespaces.
package.path = os.getenv("CONNRECIPE_SOURCE_DIR") .. "/lua/?.lua;" .. package.path
local testenv = require "testenv"
local dkjson = require "dkjson"
local target = require "connrecipe.target"

describe("target.parse of special addresses", function()
  local cases = {
    { "0:8080", "127.0.0.1", "0" },
    { "0.0.0.0:8080", "127.0.0.1", "0.0.0.0" },
    { "[::]:8080", "::1", "::" },
    { "[0:0::0]:8080", "::1", "0:0::0" },
    { "[::ffff:127.0.0.1]:8080", "127.0.0.1", "::ffff:127.0.0.1" },
    { "[::ffff:7f00:2]:8080", "127.0.0.2", "::ffff:7f00:2" },
    { "http://0:8080/", "127.0.0.1", "0" },
    { "127.0.0.1:8080", "127.0.0.1", nil },
    { "[::1]:8080", "::1", nil },
    { "localhost:8080", "localhost", nil },
  }
  for _, c in ipairs(cases) do
    it(c[1] .. " connects to " .. c[2], function()
      local t = assert(target.parse(c[1]))
      assert.equal(c[2], t.host)
      assert.equal(c[3], t.given_host)
    end)
  end
end)

describe("host names beyond DNS's limits", function()
  local long_label = ("a"):rep(64) .. ".test"
  local long_name = ("abcdefghi."):rep(25) .. "test" -- 254 characters

  it("are rejected by target.parse; 63 and 253 are fine", function()
    assert.matches("label 'a+%.%.%.' of 64 characters %(at most 63%)", select(2, target.parse(long_label .. ":80")))
    assert.matches("host name of 254 characters %(at most 253%)", select(2, target.parse(long_name .. ":80")))
    assert.matches("empty label", select(2, target.parse("a..b:80")))
    assert.truthy(target.parse(("a"):rep(63) .. ".test:80"))
    assert.truthy(target.parse(long_name:sub(2) .. ".:80")) -- 253 and the root's dot
  end)

  for _, args in ipairs({
    { "diagnose.lua", long_label .. ":80" },
    { "diagnose.lua", "http://" .. long_name .. "/" },
    { "waitfor.lua", long_name .. ":80", "--timeout", "1" },
    { "scan.lua", long_label },
  }) do
    it("make " .. args[1] .. " exit 2 with one line", function()
      local r = testenv.run(args)
      assert.equal(2, r.code, r.stdout .. r.stderr)
      assert.equal("", r.stdout)
      assert.matches("^connrecipe: %w+: %u+: [^\n]*at most %d+[^\n]*\n$", r.stderr)
    end)
  end
end)

describe("a host name with a control character", function()
  it("is a usage error whose one line shows it escaped", function()
    assert.matches("control character in host name", select(2, target.parse("a\27[2Jb:80")))
    local r = testenv.run { "waitfor.lua", "a\27[2Jb:80", "--timeout", "1" }
    assert.equal(2, r.code, r.stdout .. r.stderr)
    assert.equal("connrecipe: waitfor: TARGET: control character in host name 'a\\x1b[2Jb:80' "
      .. "(see 'connrecipe waitfor --help')\n", r.stderr)
  end)
end)

describe("special addresses, with real listeners", function()
  local port -- from a block no other run uses: diagnose looks at every namespace
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "socat", "nft" }, prepare = function()
    port = testenv.port_block() + 480
  end })

  local function listen(bind, opts)
    testenv.tcp_listen(netns(), port, { bind = bind, options = opts })
  end

  local function drop(rule)
    testenv.sh_in(netns(), "nft add table inet crtest")
    testenv.sh_in(netns(), "nft add chain inet crtest in '{ type filter hook input priority 0; }'")
    testenv.sh_in(netns(), "nft add rule inet crtest in " .. rule)
  end

  local function diagnose(t)
    local r = testenv.run_in_netns(netns(), { "diagnose.lua", "--json", "--timeout", "0.3", t })
    local doc = dkjson.decode(r.stdout)
    assert(type(doc) == "table", "no JSON: " .. r.stdout .. r.stderr)
    return doc, r
  end

  it("0:PORT and 0.0.0.0:PORT are 127.0.0.1: a drop rule on 127.0.0.1 is the verdict", function()
    listen("127.0.0.1")
    drop("ip daddr 127.0.0.1 tcp dport " .. port .. " drop")
    for _, t in ipairs({ "0:" .. port, "0.0.0.0:" .. port }) do
      local doc = diagnose(t)
      assert.equal("firewall-drop", doc.verdict, t .. ": " .. dkjson.encode(doc.findings))
      assert.matches("ip daddr 127.0.0.1", dkjson.encode(doc.findings), 1, true)
    end
  end)

  it("[::]:PORT is ::1: a drop rule on ::1 is the verdict", function()
    listen("::1")
    drop("ip6 daddr ::1 tcp dport " .. port .. " drop")
    local doc = diagnose("[::]:" .. port)
    assert.equal("firewall-drop", doc.verdict, dkjson.encode(doc.findings))
  end)

  it("[::ffff:127.0.0.1]:PORT meets IPv4 rules", function()
    listen("127.0.0.1")
    drop("ip daddr 127.0.0.1 tcp dport " .. port .. " drop")
    local doc = diagnose("[::ffff:127.0.0.1]:" .. port)
    assert.equal("firewall-drop", doc.verdict, dkjson.encode(doc.findings))
  end)

  it("[::ffff:127.0.0.1]:PORT reaches a 127.0.0.1 listener, whose holder is named", function()
    listen("127.0.0.1")
    local doc = diagnose("[::ffff:127.0.0.1]:" .. port)
    assert.equal("reachable", doc.verdict)
    assert.matches("socat %(pids? %d+", doc.findings[1].summary)
  end)

  it("[::ffff:127.0.0.1]:PORT against an IPv6-only listener is a family mismatch", function()
    listen("::1")
    local doc = diagnose("[::ffff:127.0.0.1]:" .. port)
    assert.equal("family-mismatch", doc.verdict, dkjson.encode(doc.findings))
  end)

  it("whoowns: 0:PORT and [::ffff:127.0.0.1]:PORT find the 127.0.0.1 listener", function()
    listen("127.0.0.1")
    for _, t in ipairs({ "0:" .. port, "[::ffff:127.0.0.1]:" .. port, "[::ffff:7f00:1]:" .. port }) do
      local r = testenv.run_in_netns(netns(), { "whoowns.lua", t })
      assert.equal(0, r.code, t .. ": " .. r.stdout .. r.stderr)
      assert.matches("tcp 127.0.0.1:" .. port .. " listen", r.stdout, 1, true)
    end
  end)

  it("cr.firewall.match takes ::ffff:127.0.0.1 as IPv4 and 0.0.0.0 as 127.0.0.1", function()
    drop("ip daddr 127.0.0.1 tcp dport " .. port .. " drop")
    for _, addr in ipairs({ "::ffff:127.0.0.1", "0.0.0.0", "127.0.0.1" }) do
      local code = ("local hits = cr.firewall.match{ proto = 'tcp', addr = %q, port = %d } print(#hits)"):format(
        addr, port)
      local r = testenv.cr_in_netns(netns(), code)
      assert.equal("1\n", r.stdout, addr .. ": " .. r.stderr)
    end
    local code = ("print(#cr.firewall.match{ proto = 'tcp', addr = '::1', port = %d })"):format(port)
    local r = testenv.cr_in_netns(netns(), code)
    assert.equal("0\n", r.stdout, r.stderr)
  end)
end)

teardown(function()
  testenv.cleanup()
end)
