-- recipes/waitfor.lua: waits for real listeners that appear late, inside a
-- private network namespace; runs the command and passes its status on.
local testenv = require "testenv"
local dkjson = require "dkjson"

describe("waitfor.lua", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end)

  local function listen_later(delay, address)
    testenv.background_in(netns(), ("sh -c 'sleep %s; exec timeout 20 socat %s SYSTEM:true'"):format(delay, address))
  end

  it("returns 0 once a listener that starts late accepts, after several attempts", function()
    listen_later(0.6, "TCP4-LISTEN:7070,bind=127.0.0.1,reuseaddr,fork")
    local r = testenv.run_in_netns(netns(), { "waitfor.lua", "127.0.0.1:7070", "--timeout", "10", "--json" })
    assert.equal(0, r.code, r.stderr)
    local doc = dkjson.decode(r.stdout)
    assert.is_true(doc.up)
    assert.is_true(doc.attempts > 1)
    assert.equal("127.0.0.1:7070", doc.target)
  end)

  it("returns 1 when nothing comes up in time, naming the last status", function()
    local r = testenv.run_in_netns(netns(), { "waitfor.lua", "127.0.0.1:7071", "--timeout", "0.5" })
    assert.equal(1, r.code)
    assert.matches("127%.0%.0%.1:7071 did not accept a connection within 0%.5 s %(%d+ attempts, last: refused%)",
      r.stdout)
  end)

  it("runs the command once the target is up and exits with its status", function()
    listen_later(0.2, "TCP4-LISTEN:7072,bind=127.0.0.1,reuseaddr,fork")
    local r = testenv.run_in_netns(netns(), { "waitfor", "7072", "--timeout", "10", "--",
      "sh", "-c", "echo cmd-ran; exit 7" })
    assert.equal(7, r.code)
    assert.equal("cmd-ran\n", r.stdout)
    assert.matches("localhost:7072 is up after", r.stderr)
  end)

  it("--json with a command cut short by --deadline: its own document only, exit 3", function()
    listen_later(0, "TCP4-LISTEN:7074,bind=127.0.0.1,reuseaddr,fork")
    local r = testenv.run_in_netns(netns(), { "waitfor", "7074", "--json", "--deadline", "2", "--timeout", "10", "--",
      "sleep", "30" })
    assert.equal(3, r.code)
    local doc, pos = dkjson.decode(r.stdout)
    assert.is_table(doc, r.stdout)
    assert.equal("", r.stdout:sub(pos):match("^%s*(.-)$"), "one document")
    assert.is_true(doc.up)
    assert.is_nil(doc.interrupted)
  end)

  it("--json cut short by --deadline while waiting: one document that says so, exit 3", function()
    local r = testenv.run_in_netns(netns(), { "waitfor", "7075", "--json", "--deadline", "0.5", "--timeout", "10" })
    assert.equal(3, r.code)
    local doc, pos = dkjson.decode(r.stdout)
    assert.is_table(doc, r.stdout)
    assert.equal("", r.stdout:sub(pos):match("^%s*(.-)$"), "one document")
    assert.equal("waitfor", doc.recipe)
    assert.equal("deadline", doc.interrupted)
    assert.equal("localhost:7075", doc.target.display)
  end)

  it("does not run the command when the target never comes up", function()
    local r = testenv.run_in_netns(netns(), { "waitfor", "7073", "--timeout", "0.3", "--", "echo", "should-not-run" })
    assert.equal(1, r.code)
    assert.not_matches("should%-not%-run", r.stdout)
  end)

  it("a missing command exits 127 with one line", function()
    local r = testenv.run_in_netns(netns(), { "waitfor", "unix:@crtest-waitfor", "--timeout", "0.3", "--",
      "no-such-command-crtest" })
    assert.equal(1, r.code) -- nothing listens there: the command is not even tried
    listen_later(0, "ABSTRACT-LISTEN:crtest-waitfor2,fork")
    r = testenv.run_in_netns(netns(), { "waitfor", "unix:@crtest-waitfor2", "--timeout", "5", "--",
      "no-such-command-crtest" })
    assert.equal(127, r.code)
    assert.matches("connrecipe: waitfor: no%-such%-command%-crtest: not found\n$", r.stderr)
  end)

  it("waits for a Unix socket file to appear", function()
    local dir = testenv.tmpdir()
    listen_later(0.4, "UNIX-LISTEN:" .. dir .. "/app.sock,fork")
    local r = testenv.run_in_netns(netns(), { "waitfor", dir .. "/app.sock", "--timeout", "10", "-q" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("", r.stdout)
  end)

  it("rejects -- with nothing after it: one usage line, exit 2, without waiting", function()
    local t0 = os.time()
    local r = testenv.run_in_netns(netns(), { "waitfor", "127.0.0.1:7076", "--timeout", "5", "--" })
    assert.equal(2, r.code)
    assert.equal("connrecipe: waitfor: missing CMD after '--' (see 'connrecipe waitfor --help')\n", r.stderr)
    assert.equal("", r.stdout)
    assert.is_true(os.time() - t0 < 4, "it waited for the target")
  end)

  it("rejects a bad target with exit 2", function()
    local r = testenv.run_in_netns(netns(), { "waitfor", "localhost:99999" })
    assert.equal(2, r.code)
    assert.matches("port 99999 out of range", r.stderr)
  end)
end)
