-- recipes/scan.lua from the command line, inside a private network namespace.
local testenv = require "testenv"
local dkjson = require "dkjson"

describe("scan.lua", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { prepare = function(ns)
    testenv.tcp_listen(ns, 2222)
    testenv.tcp_listen(ns, 8081)
  end })

  local function scan(args)
    return testenv.run_in_netns(netns(), args)
  end

  it("prints the open ports", function()
    local r = scan({ "scan.lua", "127.0.0.1", "--ports", "1-10000" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("127%.0%.0%.1: 2 open of 10000 TCP ports", r.stdout)
    assert.matches("\n2222/tcp open\n8081/tcp open\n", r.stdout)
    assert.equal("", r.stderr) -- not a tty: no progress bar
  end)

  it("prints one JSON document with --json", function()
    local r = scan({ "--json", "scan.lua", "127.0.0.1", "--ports=2000-9000", "--timeout", "0.5" })
    assert.equal(0, r.code, r.stderr)
    local doc = assert(dkjson.decode(r.stdout))
    assert.equal("scan", doc.recipe)
    assert.equal("127.0.0.1", doc.host)
    assert.same({ 2222, 8081 }, doc.open)
    assert.equal(2, doc.counts.open)
    assert.equal(7001 - 2, doc.counts.refused)
  end)

  it("prints an empty list as [] with --json", function()
    local r = scan({ "--json", "scan.lua", "127.0.0.1", "--ports", "1-100" })
    assert.matches('"open":%[%]', r.stdout)
  end)

  it("rejects bad input with one line and exit code 2", function()
    local r = scan({ "scan.lua", "127.0.0.1", "--ports", "1-80,0" })
    assert.equal(2, r.code)
    assert.equal('connrecipe: scan: --ports: bad port spec "0" in "1-80,0": ports are 1-65535\n', r.stderr)
    r = scan({ "scan.lua", "127.0.0.1", "--timeout", "soon" })
    assert.equal(2, r.code)
    assert.equal("connrecipe: scan: --timeout: expected a number, got 'soon' (see 'connrecipe scan --help')\n",
      r.stderr)
    r = scan({ "scan.lua" })
    assert.equal(2, r.code)
    assert.matches("^connrecipe: scan: missing HOST %(see 'connrecipe scan %-%-help'%)\n$", r.stderr)
  end)

  it("-- ends the options: what follows is positional, an extra argument is an error", function()
    local r = scan({ "scan.lua", "--ports", "2222", "--", "127.0.0.1" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("2222/tcp open", r.stdout)
    r = scan({ "scan.lua", "127.0.0.1", "--", "--ports=1-10" })
    assert.equal(2, r.code)
    assert.equal("connrecipe: scan: unexpected argument '--ports=1-10' (see 'connrecipe scan --help')\n", r.stderr)
    assert.equal("", r.stdout)
  end)

  it("cut short by --deadline, still prints one JSON document that says so, exit 3", function()
    -- a port whose SYNs are dropped keeps the scan waiting past the deadline
    testenv.sh_in(netns(), "iptables -A INPUT -p tcp --dport 9 -j DROP")
    local r = scan({ "--json", "--deadline", "0.5", "scan.lua", "127.0.0.1", "--ports", "9", "--timeout", "30" })
    assert.equal(3, r.code)
    assert.matches("deadline of 0%.5 s expired", r.stderr)
    local doc, pos = dkjson.decode(r.stdout)
    assert.is_table(doc, r.stdout)
    assert.equal("", r.stdout:sub(pos):match("^%s*(.-)$"), "one document")
    assert.equal("scan", doc.recipe)
    assert.equal("deadline", doc.interrupted)
  end)
end)
