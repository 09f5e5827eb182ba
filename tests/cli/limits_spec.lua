-- Resource limits reached: no thread can be created (RLIMIT_NPROC, as a user
-- of its own), a memory ceiling with 100k tasks (ulimit -v), and running out
-- of file descriptors (ulimit -n). Each is a precise answer in bounded time:
-- never libuv's abort(), never a hang, never an empty name for what could not
-- be read.
local testenv = require "testenv"
local q = testenv.quote

after_each(testenv.cleanup)

local bin = q(testenv.bin)

-- AddressSanitizer reserves terabytes of address space: no ulimit -v for it
local function sanitized()
  return os.getenv("CONNRECIPE_CHILD_ASAN_OPTIONS") ~= nil
end

describe("no thread can be created", function()
  -- A uid no other process uses, so that RLIMIT_NPROC counts only ours.
  local uid = 61000 + tonumber(testenv.owner:match("^(%d+)")) % 4000

  local function run_limited(nproc, code)
    -- LeakSanitizer's check at exit needs a thread of its own
    local env = sanitized() and "env ASAN_OPTIONS=detect_leaks=0 " or ""
    return testenv.sh(("%sprlimit --nproc=%d setpriv --reuid=%d --regid=%d --clear-groups %s -e %s"):format(env,
      nproc, uid, uid, bin, q(code)))
  end

  before_each(function()
    if not testenv.is_root() then
      pending("needs root (to run as a uid of its own under a process limit)")
    end
  end)

  -- libuv's pool is started by the first piece of work queued on it
  it("needs no thread for a run that queues no blocking work, and starts libuv's four at the first", function()
    local threads = "io.open('/proc/self/status'):read('a'):match('Threads:%s*(%d+)')"
    local r = run_limited(1, ("print(%s, cr.probe.tcp('127.0.0.1', 1, {timeout = 1}).status)"):format(threads))
    assert.equal(0, r.code, r.stderr)
    assert.equal("1\trefused\n", r.stdout)
    r = testenv.run { "-e", ("print(%s); cr.process.list(); print(%s)"):format(threads, threads) }
    assert.equal(0, r.code, r.stderr)
    assert.equal("1\n5\n", r.stdout)
  end)

  it("says so in one line and exits 3 when not even one thread can start", function()
    local r = run_limited(1, "print(#cr.process.list())") -- the process itself is the one
    assert.equal(3, r.code, r.stderr)
    assert.equal("", r.stdout)
    assert.matches("^connrecipe: cannot start libuv's thread pool: a thread cannot be created %(a limit is "
      .. "reached: [^\n]*ulimit %-u[^\n]*%)\n$", r.stderr)
  end)

  it("says so in one line and exits 3 when libuv's thread pool cannot start (no abort)", function()
    -- room for one thread of our own, not for the pool's four
    local r = run_limited(3, "print(#cr.process.list())")
    assert.equal(3, r.code, r.stderr)
    assert.equal("", r.stdout)
    assert.matches("^connrecipe: cannot start libuv's thread pool: a thread cannot be created %([^\n]*%)\n$",
      r.stderr)
  end)

  -- connrecipe.so in the stock interpreter: require fails with the reason, the host's Lua lives on
  local function module_limited(nproc)
    local code = table.concat({
      "package.cpath = " .. ("%q"):format(os.getenv("CONNRECIPE_MODULE_DIR") .. "/?.so;") .. " .. package.cpath",
      "local ok, cr = pcall(require, 'connrecipe')",
      "if not ok then print('require failed: ' .. cr) os.exit(7) end",
      "print(#cr.run(function() return cr.process.list() end) > 0)",
    }, "\n")
    return testenv.sh(("prlimit --nproc=%d setpriv --reuid=%d --regid=%d --clear-groups lua5.4 -e %s"):format(
      nproc, uid, uid, q(code)))
  end

  it("connrecipe.so: require raises the reason when the pool's threads cannot all start (no abort)", function()
    if os.getenv("CONNRECIPE_ASAN_PRELOAD") then
      pending("the sanitizer build's module needs the ASan runtime preloaded into lua5.4")
      return
    end
    for _, nproc in ipairs { 1, 3 } do
      local r = module_limited(nproc)
      assert.equal(7, r.code, r.stderr)
      assert.matches("^require failed: connrecipe: cannot create a thread: Resource temporarily unavailable "
        .. "%(a limit is reached: [^\n]*ulimit %-u[^\n]*%)\n$", r.stdout)
    end
    local r = module_limited(64)
    assert.equal(0, r.code, r.stderr)
    assert.equal("true\n", r.stdout)
  end)

  it("runs once the limit leaves room for the pool", function()
    local r = run_limited(64, "print(#cr.process.list() > 0)")
    assert.equal(0, r.code, r.stderr)
    assert.equal("true\n", r.stdout)
  end)
end)

describe("a memory ceiling", function()
  it("with 100k tasks: the failure and the cancellation of every task end in bounded time", function()
    if sanitized() then
      pending("AddressSanitizer cannot run under ulimit -v")
    end
    local r = testenv.run { "-e", 'print(io.open("/proc/self/status"):read("a"):match("VmPeak:%s*(%d+)"))' }
    local base = assert(tonumber(r.stdout), r.stderr)
    -- 48 MiB above what a bare run maps: 100k waiting tasks need well over 100 MiB
    local chunk = "for i = 1, 100000 do cr.spawn(cr.sleep, 100) end cr.sleep(100)"
    r = testenv.sh(("ulimit -v %d; exec timeout 120 %s --deadline 60 -e %s"):format(base + 48 * 1024, bin, q(chunk)))
    assert.are_not.equal(124, r.code, "still cancelling after 120 s")
    assert.equal(3, r.code, r.stderr)
    assert.matches("not enough memory", r.stderr, 1, true)
  end)
end)

describe("out of file descriptors", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "socat" } })

  it("owners are unknown, with the reason, never an empty name (ulimit -n 8 to 24)", function()
    local ns = netns()
    testenv.tcp_listen(ns, 7321)
    local code = [[
local socks = assert(cr.listeners{ processes = true })
for _, s in ipairs(socks) do
  if s.port == 7321 then
    if s.owner_unknown then print("unknown: " .. s.owner_unknown_reason)
    else print("owner: " .. s.processes[1].comm) end
  end
end
]]
    local seen_unknown = false
    for n = 8, 24 do
      local r = testenv.sh(testenv.in_netns(ns, ("sh -c %s"):format(q(("ulimit -n %d; exec %s -e %s")
        :format(n, bin, q(code))))))
      local what = "ulimit -n " .. n .. ": " .. r.stdout .. r.stderr
      if r.code == 0 then
        if r.stdout:match("^unknown") then
          seen_unknown = true
          assert.matches("^unknown: [^\n]*ulimit %-n[^\n]*\n$", r.stdout, 1, false, what)
        else
          assert.equal("owner: socat\n", r.stdout, what)
        end
      else -- too few even to start: an error, not a crash (a `require` that cannot
        -- open its file still says "not found", at length: Lua's searchers)
        assert.equal(3, r.code, what)
        assert.matches("^connrecipe: ", r.stderr)
      end
    end
    assert.is_true(seen_unknown, "no limit made the owner unknown: the test did not test it")
    -- the listeners table says why in its one line on stderr
    local r = testenv.sh(testenv.in_netns(ns, ("sh -c %s"):format(q("ulimit -n 12; exec " .. bin .. " listeners.lua"))))
    if r.stdout:match("socat") == nil then
      assert.matches("no visible owner %(connrecipe reached its limit on open files[^\n]*ulimit %-n%)", r.stderr)
    end
  end)

  it("the process list is an error, not a partial list (ulimit -n 8 to 24)", function()
    local ns = netns()
    testenv.tcp_listen(ns, 7322)
    local code = [[
local procs, msg, code = cr.process.list()
if not procs then print(code) return end
for _, p in ipairs(procs) do if p.comm == "socat" then print("found") return end end
print("missing")
]]
    for n = 8, 24 do
      local r = testenv.sh(testenv.in_netns(ns, ("sh -c %s"):format(q(("ulimit -n %d; exec %s -e %s")
        :format(n, bin, q(code))))))
      if r.code == 0 then
        assert.is_true(r.stdout == "found\n" or r.stdout == "EMFILE\n", "ulimit -n " .. n .. ": " .. r.stdout)
      else
        assert.equal(3, r.code, "ulimit -n " .. n .. ": " .. r.stderr)
      end
    end
  end)
end)
