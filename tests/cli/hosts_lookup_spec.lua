-- A huge /etc/hosts: the lookup diagnose makes for a name that does not
-- resolve streams the file instead of building a table of it. A namespace
-- of this test's own gets a hosts file of 500,000 lines (ip netns exec mounts
-- /etc/netns/NAME/hosts over /etc/hosts) with the entry at its end, and an
-- nsswitch.conf that does not consult it. The address space is capped
-- (ulimit -v) well below what a table of the file takes: a run that read it
-- whole fails for memory. No timing is asserted (bench/hosts.sh measures).
local testenv = require "testenv"
local q = testenv.quote

local LINES = 500000
local LIMIT_KB = 262144 -- 256 MiB of address space; the table of the file took ~400 MiB

-- The sanitizers reserve terabytes of address space: no cap under them.
-- A reader of the whole file fails for memory, or thrashes in the collector
-- at the cap: `timeout` bounds that (not a timing assertion: the lookup
-- takes a fraction of a second).
local function capped(cmd)
  if os.getenv("CONNRECIPE_ASAN_PRELOAD") or os.getenv("CONNRECIPE_CHILD_ASAN_OPTIONS") then
    return "timeout 120 " .. cmd
  end
  return "timeout 120 sh -c " .. q("ulimit -v " .. LIMIT_KB .. " && exec " .. cmd)
end

describe("a hosts file of 500,000 lines", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { prepare = function(ns)
    local lines = { "127.0.0.1 localhost", "::1 localhost ip6-localhost" }
    for i = 1, LINES do
      lines[#lines + 1] = ("10.%d.%d.%d host%d.example.test h%d"):format(i >> 16 & 255, i >> 8 & 255, i & 255, i, i)
    end
    lines[#lines + 1] = "127.0.0.9 the-last.test  # at the very end"
    testenv.netns_etc(ns, {
      hosts = table.concat(lines, "\n") .. "\n",
      -- names go to DNS only, and DNS to this namespace's loopback, where
      -- nothing answers: the name does not resolve, and no packet leaves
      ["nsswitch.conf"] = "hosts: dns\n",
      ["resolv.conf"] = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    })
  end })

  it("cr.sys.hosts_lookup finds the entry at its end and one in the middle, case-insensitively", function()
    local code = "local e = assert(cr.sys.hosts_lookup('THE-LAST.test')) "
      .. "print(#e, e[1].line, e[1].addr, e[1].names[1]) "
      .. "local m = assert(cr.sys.hosts_lookup('h250000')) print(#m, m[1].line, m[1].addr)"
    local r = testenv.sh(testenv.in_netns(netns(), capped(q(testenv.bin) .. " -e " .. q(code))))
    assert.equal(0, r.code, r.stderr)
    assert.equal(("1\t%d\t127.0.0.9\tthe-last.test\n1\t%d\t10.3.208.144\n"):format(LINES + 3, 250000 + 2), r.stdout)
  end)

  it("diagnose names the line of an unresolved name, and shows the lookup under resolve in -v", function()
    local cmd = q(testenv.bin) .. " diagnose.lua -v the-last.test:80"
    local r = testenv.sh(testenv.in_netns(netns(), capped(cmd)))
    assert.equal(1, r.code, r.stdout .. r.stderr)
    assert.matches("name-unresolved", r.stdout, 1, true)
    assert.matches(("/etc/hosts line %d names the-last.test, but the hosts: line above does not consult files")
      :format(LINES + 3), r.stdout, 1, true)
    -- the lookup, timed, among the checks that follow the failed resolution
    local checks = "\n  resolve the%-last%.test%s+[%d.]+ ms  [^\n]*\n[^\n]*\n"
      .. "  /etc/hosts entries for the%-last%.test%s+[%d.]+ ms  ok\n"
    assert.matches(checks, r.stdout)
  end)
end)

describe("cr.sys.hosts_lookup on a file it cannot read", function()
  it("returns nil, 'PATH: reason' and the errno's name", function()
    local code = "print(cr.sys.hosts_lookup('x', '/nonexistent/hosts')) print(cr.sys.hosts_lookup('x', '/'))"
    local r = testenv.run { "-e", code }
    assert.equal(0, r.code, r.stderr)
    assert.equal("nil\t/nonexistent/hosts: not found\tENOENT\nnil\t/: Is a directory\tEISDIR\n", r.stdout)
  end)
end)

teardown(function()
  testenv.cleanup()
end)
