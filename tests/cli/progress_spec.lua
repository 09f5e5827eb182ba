-- Progress on long work: on a terminal a line on stderr, rewritten in place
-- (scan: ports done of the total, open so far, time left; waitfor: time
-- elapsed and the next attempt); never when stderr is a pipe, nor under
-- --json or another --format. Driven through a pseudo-terminal
-- (tests/lib/ptydrive.py) inside a private network namespace where an nft
-- rule drops the SYNs to some ports, so that the scan takes seconds.
local testenv = require "testenv"
local json = require "dkjson"

describe("progress on a terminal", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "nft", "python3" }, prepare = function(ns)
    testenv.tcp_listen(ns, 7001)
    testenv.sh_in(ns, "nft add table inet crprogress")
    testenv.sh_in(ns, "nft add chain inet crprogress in '{ type filter hook input priority 0; }'")
    testenv.sh_in(ns, "nft add rule inet crprogress in tcp dport 7100-7199 drop")
  end })

  -- the program on a pty inside the namespace until its last line matches
  -- `done` (a Python regular expression): {output, status}
  local function on_terminal(args, done)
    local parts = {}
    for i, a in ipairs(args) do
      parts[i] = testenv.quote(a)
    end
    local steps = { { expect = done, timeout = 20 } }
    local r = testenv.sh(testenv.in_netns(netns(), ("env COLUMNS=200 python3 %s/tests/lib/ptydrive.py %s -- %s %s")
      :format(testenv.source_dir, testenv.quote(json.encode(steps)), testenv.quote(testenv.bin),
        table.concat(parts, " "))))
    assert.equal(0, r.code, r.stderr)
    return json.decode(r.stdout)
  end

  -- ports 7001 (open) and 7100-7111 (dropped: each waits its whole timeout;
  -- two at a time, about 2.4 s in all, and progress shows after 1 s)
  local scan = { "scan", "127.0.0.1", "--ports=7001,7100-7111", "--timeout=0.4", "--concurrency=2" }
  local scanned = 'TCP ports scanned|"total":\\d+}|ok \\d+ - result'

  it("scan: ports done of the total, open so far, time left; cleared before the result", function()
    local doc = on_terminal(scan, scanned)
    assert.equal(0, doc.status, doc.output)
    assert.matches("\r%[[# ]+%] %d+/13 ports, 1 open, %d+ s left\27%[K", doc.output)
    assert.matches("\r\27%[K127%.0%.0%.1: 1 open of 13 TCP ports", doc.output) -- cleared, then the result
  end)

  it("scan: none under --json or --format, nor with stderr on a pipe", function()
    for _, extra in ipairs { "--json", "--format=tap" } do
      local args = table.move(scan, 1, #scan, 1, {})
      args[#args + 1] = extra
      local doc = on_terminal(args, scanned)
      assert.equal(0, doc.status, doc.output)
      assert.is_nil(doc.output:find("ports, ", 1, true), extra .. ": " .. doc.output)
      assert.is_nil(doc.output:find("\27[K", 1, true), extra)
    end
    local r = testenv.run_in_netns(netns(), scan)
    assert.equal(0, r.code, r.stderr)
    assert.equal("", r.stderr)
  end)

  it("waitfor: the time elapsed and the next attempt, cleared before the result", function()
    local doc = on_terminal({ "waitfor", "127.0.0.1:7002", "--timeout=2" }, "within 2 s")
    assert.equal(1, doc.status, doc.output)
    assert.matches("\rwaiting for 127%.0%.0%.1:7002: refused, %d+%.%d s elapsed, next attempt in %d+%.%d s\27%[K",
      doc.output)
    assert.matches("\r\27%[K127%.0%.0%.1:7002 did not accept a connection within 2 s", doc.output)
    doc = on_terminal({ "waitfor", "127.0.0.1:7002", "--timeout=1", "--format=nagios" }, "CONNRECIPE \\w+ - ")
    assert.equal(2, doc.status, doc.output)
    assert.is_nil(doc.output:find("waiting for", 1, true), doc.output)
    assert.matches("^CONNRECIPE CRITICAL %- 127%.0%.0%.1:7002 did not accept", doc.output)
  end)
end)
