-- Degraded views say why they are degraded, the same way in every recipe:
-- under a /proc mounted with hidepid=2, a non-root user sees no other user's
-- process, and listeners says hidepid as whoowns does (not "held outside
-- this pid namespace", which would send the reader the wrong way).
local testenv = require "testenv"
local q = testenv.quote

describe("listeners.lua under hidepid", function()
  local port -- from a block no other run uses (their diagnose looks at every namespace)
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "socat", "setpriv", "unshare" }, prepare = function()
    port = testenv.port_block() + 490
  end })

  -- A private /proc with hidepid=2 in a new mount namespace (the real one is
  -- bind-mounted aside: the kernel mounts a new proc instance only where a
  -- full one stays visible), then the command as nobody.
  local function as_nobody_under_hidepid(args)
    local realproc = testenv.tmpdir()
    local parts = {}
    for _, a in ipairs(args) do
      parts[#parts + 1] = q(a)
    end
    local cmd = "unshare -m --propagation private sh -c "
      .. q("chmod 755 " .. realproc .. " && mount --bind /proc " .. realproc
        .. " && mount -t proc -o hidepid=2 proc /proc && exec \"$@\"")
      .. " sh setpriv --reuid=65534 --regid=65534 --clear-groups " .. q(testenv.bin) .. " " .. table.concat(parts, " ")
    return testenv.sh(testenv.in_netns(netns(), cmd))
  end

  it("says hidepid for a root listener's unknown owner, as whoowns does", function()
    testenv.tcp_listen(netns(), port)
    local r = as_nobody_under_hidepid { "listeners.lua", "--proto", "tcp" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("127.0.0.1:" .. port, r.stdout, 1, true)
    assert.matches("connrecipe: listeners: 1 socket%(s%) with no visible owner %(/proc is mounted with hidepid",
      r.stderr)
    assert.not_matches("pid namespace", r.stderr)

    local w = as_nobody_under_hidepid { "whoowns.lua", tostring(port) }
    assert.matches("owner unknown: /proc is mounted with hidepid", w.stdout, 1, true)
  end)
end)

teardown(function()
  testenv.cleanup()
end)
