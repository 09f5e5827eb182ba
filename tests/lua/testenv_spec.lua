-- The test harness itself (tests/lib/testenv.lua): what a killed run leaves
-- behind is swept while a live run's stays, ports are picked clear of every
-- network namespace, and the per-test namespace hooks.
local testenv = require "testenv"
local q = testenv.quote

local function netns_exists(name)
  return ("\n" .. testenv.sh("ip netns list").stdout):find("\n" .. name:gsub("%p", "%%%0") .. "[ \n]") ~= nil
end

local function exists(path)
  return os.execute("test -e " .. q(path)) == true
end

-- A busted run (run_busted.sh, as ctest starts one) of a spec that makes a
-- namespace with /etc/netns files and a process inside, a process outside,
-- a temp dir and a port reservation, then waits to be killed. Returns what
-- it made: owner, pid, ns, dir, block.
local CHILD_SPEC = [[
local testenv = require "testenv"
describe("a run that gets killed", function()
  it("holds what a spec holds", function()
    local ns = testenv.netns()
    testenv.netns_etc(ns, { hosts = "127.0.0.1 localhost\n" })
    testenv.background_in(ns, "sleep 300")
    testenv.background("sleep 300")
    -- reported only once the process inside has entered the namespace (under load it takes a while)
    assert(testenv.wait_for(function()
      return testenv.sh("ip netns pids " .. ns).stdout:match("%d") ~= nil
    end, 60), "the process in the namespace did not start")
    local dir = testenv.tmpdir()
    local block = testenv.port_block()
    local out = os.getenv("CRTEST_CHILD_OUT")
    testenv.write_file(out .. ".part", table.concat({ testenv.owner, ns, dir, block }, "\n") .. "\n")
    os.rename(out .. ".part", out)
    os.execute("sleep 300")
  end)
end)
]]

local function start_run(dir, name)
  local spec, out = dir .. "/" .. name .. "_spec.lua", dir .. "/" .. name .. ".out"
  testenv.write_file(spec, CHILD_SPEC)
  local lua = os.getenv("CONNRECIPE_LUA") or "lua5.4"
  local busted = os.getenv("CONNRECIPE_BUSTED") or "busted"
  testenv.background(("CRTEST_CHILD_OUT=%s %s %s %s --helper=%s %s"):format(q(out),
    q(testenv.source_dir .. "/tests/run_busted.sh"), q(lua), q(busted), q(testenv.source_dir .. "/tests/helper.lua"),
    q(spec)))
  assert(testenv.wait_for(function()
    return testenv.read_file(out) ~= nil
  end, 60), "the " .. name .. " run did not start")
  local owner, ns, tmp, block = testenv.read_file(out):match("^(%S+)\n(%S+)\n(%S+)\n(%d+)\n$")
  assert(owner, "bad report from the " .. name .. " run")
  return { owner = owner, pid = owner:match("^%d+"), ns = ns, dir = tmp, block = tonumber(block) }
end

-- Which of the run's leftovers are there.
local function leftovers(run)
  local link = testenv.sh("readlink " .. testenv.port_dir .. "/" .. run.block // 1000).stdout
  return {
    netns = netns_exists(run.ns),
    etc_netns = exists("/etc/netns/" .. run.ns .. "/hosts"),
    process_inside = testenv.sh("ip netns pids " .. run.ns).stdout:match("%d") ~= nil,
    processes = #testenv.processes_of(run.owner) > 0,
    tmpdir = exists(run.dir),
    port_block = link == run.owner .. "\n",
  }
end

local ALL = { netns = true, etc_netns = true, process_inside = true, processes = true, tmpdir = true,
  port_block = true }
local NONE = { netns = false, etc_netns = false, process_inside = false, processes = false, tmpdir = false,
  port_block = false }

local function kill_run(run)
  assert(os.execute("kill -KILL " .. run.pid))
  assert(testenv.wait_for(function()
    return not testenv.owner_alive(run.owner)
  end), "the run did not die")
end

describe("testenv.sweep", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end)

  it("removes what a SIGKILLed run left behind, and nothing of a live run", function()
    local mine = netns()
    local dir = testenv.tmpdir()
    local dead, live = start_run(dir, "dead"), start_run(dir, "live")
    assert.are_not.equal(dead.owner, live.owner)
    assert.same(ALL, leftovers(dead))
    assert.same(ALL, leftovers(live))
    testenv.sweep() -- both alive: nothing goes
    assert.same(ALL, leftovers(dead))
    assert.same(ALL, leftovers(live))

    kill_run(dead) -- as ctest does at a TIMEOUT
    -- (not asserted that all is still there now: any spec running meanwhile,
    -- here or in another build tree, sweeps dead runs when it starts)
    testenv.sweep()
    assert.same(NONE, leftovers(dead))
    assert.same(ALL, leftovers(live))
    assert.is_true(netns_exists(mine), "this run's own namespace went")

    kill_run(live)
    testenv.sweep()
    assert.same(NONE, leftovers(live))
    assert.is_true(netns_exists(mine))
  end)

  it("takes a pid that runs but started at another time for a dead run, and leaves names with no owner", function()
    netns()
    local pid, start = testenv.owner:match("^(%d+)%-(%d+)$")
    local reused = ("crtest-%s-%d-0"):format(pid, tonumber(start) - 1) -- our pid, someone else's start
    local ownerless = ("crtest-%d-0"):format(math.random(1, 1e9)) -- an older checkout's name
    finally(function()
      os.execute("ip netns del " .. ownerless .. " 2>/dev/null; ip netns del " .. reused .. " 2>/dev/null")
    end)
    testenv.sh_ok("ip netns add " .. reused)
    testenv.sh_ok("ip netns add " .. ownerless)
    assert.is_true(testenv.owner_alive(testenv.owner))
    assert.is_false(testenv.owner_alive(pid .. "-" .. (tonumber(start) - 1)))
    testenv.sweep()
    assert.is_false(netns_exists(reused))
    assert.is_true(netns_exists(ownerless))
  end)

  it("the ctest cleanup fixture sweeps too", function()
    local mine = netns()
    local dir = testenv.tmpdir()
    local dead = start_run(dir, "dead")
    kill_run(dead)
    local r = testenv.sh(q(os.getenv("CONNRECIPE_LUA") or "lua5.4") .. " "
      .. q(testenv.source_dir .. "/tests/lib/sweep.lua"))
    assert.equal(0, r.code, r.stderr)
    assert.matches("namespaces of dead runs removed: %d+", r.stdout)
    assert.same(NONE, leftovers(dead))
    assert.is_true(netns_exists(mine))
  end)
end)

describe("testenv ports", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end)

  -- Listens on each port (any address) in a new unnamed namespace (unshare -n)
  -- until cleanup; returns once every socket is bound.
  local function listen_unnamed(ports)
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/listen.py", ([[
import socket, sys, time
socks = []
for p in %s:
    s = socket.socket(); s.bind(("0.0.0.0", p)); s.listen(1); socks.append(s)
open(sys.argv[1], "w").write("ready")
time.sleep(60)
]]):format("[" .. table.concat(ports, ", ") .. "]"))
    testenv.background("timeout 60 unshare -n python3 " .. dir .. "/listen.py " .. dir .. "/ready")
    assert(testenv.wait_for(function()
      return testenv.read_file(dir .. "/ready") == "ready"
    end), "the listener in an unnamed namespace did not start")
  end

  it("port_holders names the namespace a port is held in, named or not", function()
    local ns = netns()
    testenv.tcp_listen(ns, 21501)
    listen_unnamed({ 20501 })
    local named, unnamed = testenv.port_holders(21501), testenv.port_holders(20501)
    assert.equal(1, #named)
    assert.matches("^netns " .. ns:gsub("%p", "%%%0") .. ": tcp LISTEN .*127%.0%.0%.1:21501", named[1])
    assert.equal(1, #unnamed)
    assert.matches("^netns of pid %d+: tcp LISTEN .*:20501 ", unnamed[1])
  end)

  it("port_block gives only blocks nothing listens in, and reserves them", function()
    local ns = netns()
    -- port 500 of eight of the twelve blocks is held: four in our namespace, four in an unnamed one
    local held = { [21] = true, [23] = true, [25] = true, [27] = true }
    testenv.tcp_listen(ns, 21500)
    testenv.tcp_listen(ns, 23500)
    testenv.tcp_listen(ns, 25500)
    testenv.tcp_listen(ns, 27500)
    listen_unnamed({ 20500, 22500, 24500, 26500 })
    for _, b in ipairs { 20, 22, 24, 26 } do
      held[b] = true
    end
    local got = {}
    for _ = 1, 3 do
      local base = testenv.port_block()
      assert.equal(0, base % 1000)
      assert.is_nil(held[base // 1000], "block " .. base .. " has a listener")
      assert.is_nil(got[base], "block " .. base .. " given twice")
      got[base] = true
      local link = testenv.sh("readlink " .. testenv.port_dir .. "/" .. base // 1000).stdout
      assert.equal(testenv.owner .. "\n", link)
    end
    testenv.cleanup()
    for base in pairs(got) do
      assert.is_false(exists(testenv.port_dir .. "/" .. base // 1000), "reservation kept after cleanup")
    end
  end)
end)

describe("testenv.stop", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "socat" } })

  local function listening(ns, port)
    return testenv.sh_in(ns, "ss -Hltn 'sport = :" .. port .. "'").stdout:match("%S") ~= nil
  end

  it("ends the process it started and its children (a connection's too), not the same command elsewhere", function()
    local other, port = testenv.netns(), 47080
    local cmd = ("timeout 60 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork EXEC:cat"):format(port)
    local mine = testenv.background_in(netns(), cmd)
    testenv.background_in(other, cmd) -- what `pkill -f TCP4-LISTEN:PORT` would have ended as well
    assert(testenv.wait_listening(netns(), "tcp", port) and testenv.wait_listening(other, "tcp", port))
    -- a connection held open: socat's forked child, and its cat
    testenv.background_in(netns(), ("timeout 60 socat -u EXEC:'sleep 60' TCP4:127.0.0.1:%d"):format(port))
    assert(testenv.wait_for(function()
      return testenv.sh_in(netns(), "ss -Htn state established 'dport = :" .. port .. "'").stdout:match("%S") ~= nil
    end), "no connection")
    local before = testenv.sh("ip netns pids " .. netns()).stdout
    testenv.stop(mine)
    assert.is_false(listening(netns(), port))
    assert.is_true(listening(other, port))
    -- socat's child for the connection and its cat went with it (the client, not started by mine, stays)
    local after = {}
    for pid in testenv.sh("ip netns pids " .. netns()).stdout:gmatch("%d+") do
      after[pid] = true
    end
    local gone = 0
    for pid in before:gmatch("%d+") do
      gone = gone + (after[pid] and 0 or 1)
    end
    assert.is_true(gone >= 4, before) -- timeout, socat, its child, cat
    assert.is_true(next(after) ~= nil) -- the client's timeout and socat still run
  end)

  it("leaves a pid that is not one of this run's background processes", function()
    local pid = assert(testenv.sh("sleep 60 >/dev/null 2>&1 & echo $!").stdout:match("%d+"))
    testenv.stop(pid)
    local alive = os.execute("kill -0 " .. pid .. " 2>/dev/null")
    os.execute("kill " .. pid)
    assert.is_true(alive)
  end)
end)

describe("testenv.per_test_netns", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { prepare = function(ns)
    testenv.netns_etc(ns, { hosts = "127.0.0.9 prepared.test\n" })
  end })
  local first

  it("gives a test a namespace of its own, prepared", function()
    first = netns()
    assert.is_true(netns_exists(first))
    assert.equal("127.0.0.9 prepared.test\n", testenv.read_file("/etc/netns/" .. first .. "/hosts"))
    assert.equal(first, netns())
  end)

  it("gives the next test another one; the last one is gone", function()
    local ns = netns()
    assert.is_string(first)
    assert.are_not.equal(first, ns)
    assert.is_false(netns_exists(first))
    assert.is_false(exists("/etc/netns/" .. first))
  end)

  it("skips through the given function when the tests cannot run", function()
    local hooks = {}
    local get = testenv.per_test_netns(function(f)
      hooks.before = f
    end, function(f)
      hooks.after = f
    end, function(why)
      error({ skipped = why })
    end, { needs = { "no-such-program-crtest" } })
    hooks.before()
    local ok, e = pcall(get)
    hooks.after()
    assert.is_false(ok)
    assert.equal(testenv.needs_root() or "no-such-program-crtest not installed", e.skipped)
  end)
end)
