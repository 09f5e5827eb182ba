-- The runtime API through the Lua module, as a recipe author uses it.
local cr = require "connrecipe"

-- The pid a shell wrote to `path` (the file is removed).
local function take_pid(path)
  local f = assert(io.open(path))
  local pid = f:read("n")
  f:close()
  os.remove(path)
  return pid
end

-- After a moment for signals to land: the process is gone, or a zombie
-- waiting for a PID 1 that may not reap. Either way it does not run.
local function assert_gone(pid, what)
  cr.run(function()
    cr.sleep(0.1)
  end)
  local stat = io.open("/proc/" .. pid .. "/stat")
  local state = stat and stat:read("a"):match("^%d+ %b() (%a)")
  if stat then
    stat:close()
  end
  assert.is_true(state == nil or state == "Z", what .. " (state " .. tostring(state) .. ")")
end

describe("cr.run and cr.sleep", function()
  it("returns the function's results", function()
    local a, b = cr.run(function(x)
      cr.sleep(0.01)
      return x + 1, "two"
    end, 41)
    assert.equal(42, a)
    assert.equal("two", b)
  end)

  it("raises the function's error", function()
    assert.has_error(function()
      cr.run(function()
        error("boom", 0)
      end)
    end, "boom")
  end)

  it("refuses to wait outside a task", function()
    local ok, err = pcall(cr.sleep, 0.01)
    assert.is_false(ok)
    assert.matches("only wait inside a task", err)
  end)

  it("rejects a negative duration", function()
    assert.has_error(function()
      cr.run(function()
        cr.sleep(-1)
      end)
    end)
  end)

  it("sleeps concurrently: ten 0.2 s sleeps take about 0.2 s, not 2 s", function()
    local elapsed = cr.run(function()
      local t0 = cr.now()
      local tasks = {}
      for i = 1, 10 do
        tasks[i] = cr.spawn(cr.sleep, 0.2)
      end
      for i = 1, 10 do
        tasks[i]:join()
      end
      return cr.now() - t0
    end)
    assert.is_true(elapsed >= 0.19)
    assert.is_true(elapsed < 1.5, "sleeps ran one after the other")
  end)

  it("cr.now is monotonic seconds", function()
    local a = cr.now()
    local b = cr.now()
    assert.is_number(a)
    assert.is_true(b >= a)
  end)
end)

describe("cr.spawn and task:join", function()
  it("finishes thousands of concurrent tasks", function()
    local sum, finished = cr.run(function()
      local tasks = {}
      for i = 1, 5000 do
        tasks[i] = cr.spawn(function(n)
          cr.sleep((n % 10) / 1000)
          return n
        end, i)
      end
      local total, count = 0, 0
      for i = 1, #tasks do
        total = total + tasks[i]:join()
        count = count + (tasks[i]:status() == "done" and 1 or 0)
      end
      return total, count
    end)
    assert.equal(5000 * 5001 // 2, sum)
    assert.equal(5000, finished)
  end)

  it("join returns nil, err for a task that raised", function()
    local r, err = cr.run(function()
      local t = cr.spawn(function()
        cr.sleep(0.01)
        error("child failed", 0)
      end)
      return t:join()
    end)
    assert.is_nil(r)
    assert.equal("child failed", err)
  end)

  it("join of a finished task works outside the loop", function()
    local t
    cr.run(function()
      t = cr.spawn(function()
        return 7
      end)
    end)
    assert.equal("done", t:status())
    assert.equal(7, t:join())
  end)

  it("cancel stops a task waiting on a timer; join says cancelled", function()
    local r, err, status, elapsed = cr.run(function()
      local t0 = cr.now()
      local t = cr.spawn(cr.sleep, 30)
      cr.sleep(0.01)
      t:cancel()
      local r, e = t:join()
      return r, e, t:status(), cr.now() - t0
    end)
    assert.is_nil(r)
    assert.equal("cancelled", err)
    assert.equal("cancelled", status)
    assert.is_true(elapsed < 5)
  end)

  it("cancelling a task cancels its children", function()
    local child_status = cr.run(function()
      local child
      local parent = cr.spawn(function()
        child = cr.spawn(cr.sleep, 30)
        cr.sleep(30)
      end)
      cr.sleep(0.01)
      parent:cancel()
      return child:status()
    end)
    assert.equal("cancelled", child_status)
  end)

  it("a task cannot cancel itself", function()
    assert.has_error(function()
      cr.run(function()
        local me
        me = cr.spawn(function()
          me:cancel()
        end)
        local _, err = me:join()
        error(err, 0)
      end)
    end)
  end)

  it("closes to-be-closed variables of a cancelled task", function()
    local closed = cr.run(function()
      local flag = { closed = false }
      local t = cr.spawn(function()
        local guard <close> = setmetatable({}, { __close = function()
          flag.closed = true
        end })
        cr.sleep(30)
        return guard
      end)
      cr.sleep(0.01)
      t:cancel()
      return flag.closed
    end)
    assert.is_true(closed)
  end)

  it("runs children that outlive their parent to completion", function()
    local log = {}
    cr.run(function()
      cr.spawn(function()
        cr.spawn(function()
          cr.sleep(0.05)
          log[#log + 1] = "grandchild"
        end)
        log[#log + 1] = "child"
      end)
    end)
    assert.same({ "child", "grandchild" }, log)
  end)

  it("reports a join cycle instead of hanging", function()
    assert.has_error(function()
      cr.run(function()
        local a
        local b = cr.spawn(function()
          cr.sleep(0)
          return a:join()
        end)
        a = cr.spawn(function()
          return b:join()
        end)
        return a:join()
      end)
    end, "cancelled")
  end)
end)

describe("cr.all", function()
  it("runs functions concurrently and returns their results in order", function()
    local a, b, c, elapsed = cr.run(function()
      local t0 = cr.now()
      local x, y, z = cr.all {
        function()
          cr.sleep(0.2)
          return "a"
        end,
        function()
          cr.sleep(0.1)
          return "b"
        end,
        function()
          return "c"
        end,
      }
      return x, y, z, cr.now() - t0
    end)
    assert.same({ "a", "b", "c" }, { a, b, c })
    assert.is_true(elapsed < 0.29, "ran one after the other")
  end)

  it("keeps nil results in their place", function()
    local n, second = cr.run(function()
      local function pack(...)
        return select("#", ...), select(2, ...)
      end
      return pack(cr.all {
        function()
          return nil
        end,
        function()
          return 2
        end,
      })
    end)
    assert.equal(2, n)
    assert.equal(2, second)
  end)

  it("raises the first error and cancels the others", function()
    local ok, err, other = cr.run(function()
      local sleeper
      local ok, err = pcall(cr.all, {
        function()
          sleeper = cr.sleep(30)
        end,
        function()
          cr.sleep(0.01)
          error("second failed", 0)
        end,
      })
      return ok, err, sleeper
    end)
    assert.is_false(ok)
    assert.equal("second failed", err)
    assert.is_nil(other)
  end)

  it("rejects items that are not functions", function()
    assert.has_error(function()
      cr.run(function()
        cr.all { function() end, 42 }
      end)
    end)
  end)
end)

describe("cr.timeout", function()
  it("returns the results when the function finishes in time", function()
    assert.equal(5, cr.run(function()
      return cr.timeout(1, function(x)
        cr.sleep(0.01)
        return x
      end, 5)
    end))
  end)

  it("returns nil, 'timeout' and cancels pending operations", function()
    local r, err, elapsed = cr.run(function()
      local t0 = cr.now()
      local r, e = cr.timeout(0.1, function()
        cr.exec { "sleep", "30" }
        return "finished"
      end)
      return r, e, cr.now() - t0
    end)
    assert.is_nil(r)
    assert.equal("timeout", err)
    assert.is_true(elapsed < 5)
  end)

  it("raises the function's error", function()
    assert.has_error(function()
      cr.run(function()
        cr.timeout(1, function()
          error("inner", 0)
        end)
      end)
    end, "inner")
  end)
end)

describe("yields inside pcall and the recipe's own coroutines", function()
  it("works inside pcall", function()
    local ok, v = cr.run(function()
      return pcall(function()
        cr.sleep(0.01)
        return "after sleep"
      end)
    end)
    assert.is_true(ok)
    assert.equal("after sleep", v)
  end)

  it("works inside coroutine.wrap, and plain yields still pass through", function()
    local got = cr.run(function()
      local gen = coroutine.wrap(function()
        for i = 1, 3 do
          cr.sleep(0.001)
          coroutine.yield(i)
        end
      end)
      return { gen(), gen(), gen() }
    end)
    assert.same({ 1, 2, 3 }, got)
  end)

  it("works inside nested coroutine.resume", function()
    local ok, v = cr.run(function()
      local co = coroutine.create(function()
        local inner = coroutine.wrap(function()
          cr.sleep(0.001)
          return cr.exec({ "echo", "nested" }).stdout
        end)
        return inner()
      end)
      return coroutine.resume(co)
    end)
    assert.is_true(ok)
    assert.equal("nested\n", v)
  end)

  it("names the C boundary when a yield cannot cross it", function()
    local ok, err = cr.run(function()
      return pcall(table.sort, { 3, 1, 2 }, function(a, b)
        cr.sleep(0)
        return a < b
      end)
    end)
    assert.is_false(ok)
    assert.matches("table.sort comparator", err)
  end)

  it("a plain coroutine.yield at the top of a task is an error", function()
    assert.has_error(function()
      cr.run(function()
        coroutine.yield(1)
      end)
    end)
  end)
end)

describe("cr.exec", function()
  -- cr.exec{inherit = true} holds SIGINT and SIGTERM back in the thread
  -- running Lua until the child is registered for forwarding; a libuv worker
  -- that did not block them would take one sent meanwhile (SIGTERM: the
  -- host dies under the child). The module starts the pool at require.
  it("libuv's workers, started by require, block the signals forwarded to a child", function()
    cr.run(function()
      return cr.resolve("127.0.0.1") -- work on the pool, whenever it started
    end)
    local self_pid = io.open("/proc/self/stat"):read("l"):match("^(%d+)")
    local out = io.popen("grep -H '^SigBlk:' /proc/" .. self_pid .. "/task/*/status"):read("a")
    local workers = 0
    for tid, mask in out:gmatch("/task/(%d+)/status:SigBlk:%s+(%x+)") do
      if tid ~= self_pid then
        workers = workers + 1
        for _, sig in ipairs { 1, 2, 3, 15 } do -- SIGHUP, SIGINT, SIGQUIT, SIGTERM
          assert.equal(1, (tonumber(mask, 16) >> (sig - 1)) & 1, ("thread %s takes signal %d: SigBlk %s"):format(tid,
            sig, mask))
        end
      end
    end
    assert.is_true(workers >= 1, out)
  end)

  it("captures status, stdout and stderr", function()
    local r = cr.run(function()
      return cr.exec { "sh", "-c", "echo out; echo err >&2; exit 3" }
    end)
    assert.equal(3, r.status)
    assert.equal("out\n", r.stdout)
    assert.equal("err\n", r.stderr)
    assert.is_false(r.timed_out)
    assert.is_nil(r.signal)
  end)

  it("feeds stdin", function()
    local r = cr.run(function()
      return cr.exec { "tr", "a-z", "A-Z", stdin = "hello" }
    end)
    assert.equal("HELLO", r.stdout)
  end)

  it("passes arguments without a shell", function()
    local r = cr.run(function()
      return cr.exec { "printf", "%s|", "a b", "$HOME", ";ls" }
    end)
    assert.equal("a b|$HOME|;ls|", r.stdout)
  end)

  it("with inherit = true the child writes to our own stdout", function()
    local f = io.popen(os.getenv("CONNRECIPE_BIN")
      .. [[ -e 'local r = cr.exec{"echo", "straight through", inherit = true}
      print(r.status, r.stdout == "")']])
    local out = f:read("a")
    f:close()
    assert.equal("straight through\n0\ttrue\n", out)
  end)

  it("gives nil, message, ENOENT for a missing program", function()
    local r, msg, code = cr.run(function()
      return cr.exec { "no-such-program-connrecipe" }
    end)
    assert.is_nil(r)
    assert.equal("no-such-program-connrecipe: not found", msg)
    assert.equal("ENOENT", code)
  end)

  it("kills the child at the timeout (TERM, then KILL)", function()
    local r, elapsed = cr.run(function()
      local t0 = cr.now()
      local r = cr.exec { "sh", "-c", "trap '' TERM; sleep 30", timeout = 0.2 }
      return r, cr.now() - t0
    end)
    assert.is_true(r.timed_out)
    assert.equal(9, r.signal)
    assert.is_true(elapsed < 10)
  end)

  it("kills the child's own children too", function()
    local dir = os.tmpname()
    local r = cr.run(function()
      return cr.exec { "sh", "-c", "sleep 30 & echo $! > " .. dir .. "; wait", timeout = 0.2 }
    end)
    assert.is_true(r.timed_out)
    assert_gone(take_pid(dir), "grandchild survived")
  end)

  it("rejects bad arguments", function()
    assert.has_error(function()
      cr.run(function()
        cr.exec {}
      end)
    end)
    assert.has_error(function()
      cr.run(function()
        cr.exec { "true", timout = 1 }
      end)
    end, "cr.exec: unknown option 'timout' (expected timeout, stdin, max_output, inherit)")
  end)
end)

describe("timers after the loop sat idle", function()
  it("a timeout starts counting when the call is made, not when the loop last ran", function()
    cr.run(function()
      cr.sleep(0)
    end)
    os.execute("sleep 1.2") -- the loop is idle; its cached clock goes stale
    local r = cr.run(function()
      return cr.exec { "sleep", "0.3", timeout = 1 }
    end)
    assert.is_false(r.timed_out)
    assert.equal(0, r.status)
  end)
end)

describe("edge cases found in review", function()
  it("an error object whose __tostring raises does not break the scheduler", function()
    local ok = pcall(cr.run, function()
      error(setmetatable({}, { __tostring = function()
        error("boom")
      end }))
    end)
    assert.is_false(ok)
    assert.equal(7, cr.run(function()
      return 7
    end), "the loop still works")
  end)

  it("an async call that cannot yield out of a nested coroutine leaves no stale wake-up", function()
    local slept = cr.run(function()
      pcall(table.sort, { 3, 2, 1 }, function(a, b)
        local f = coroutine.wrap(function()
          cr.sleep(0.3)
        end)
        pcall(f)
        return a < b
      end)
      local t0 = cr.now()
      cr.sleep(0.8)
      return cr.now() - t0
    end)
    assert.is_true(slept >= 0.75, "woken early after " .. slept .. " s")
  end)

  it("a __close handler that cancels the parent during cancellation finishes cleanly", function()
    local states = cr.run(function()
      local parent, child
      parent = cr.spawn(function()
        child = cr.spawn(function()
          local _ <close> = setmetatable({}, { __close = function()
            parent:cancel()
          end })
          cr.sleep(10)
        end)
        cr.sleep(10)
      end)
      cr.sleep(0.05)
      child:cancel()
      return { parent:status(), child:status() }
    end)
    assert.same({ "cancelled", "cancelled" }, states)
  end)

  it("a timer started after CPU work counts from when it started", function()
    local slept = cr.run(function()
      local t0 = os.clock()
      while os.clock() - t0 < 0.3 do -- busy: libuv's cached clock falls behind
      end
      local w0 = cr.now()
      cr.sleep(0.5)
      return cr.now() - w0
    end)
    assert.is_true(slept >= 0.45, "slept only " .. slept .. " s")
  end)

  it("too many results to join raises in the joiner, catchable", function()
    local ok, err = cr.run(function()
      local t = cr.spawn(function()
        return table.unpack({}, 1, 600000)
      end)
      return pcall(t.join, t)
    end)
    assert.is_false(ok)
    assert.matches("too many results", err)
  end)

  it("cancelling closes to-be-closed variables inside the task's own coroutines", function()
    local log = {}
    cr.run(function()
      cr.timeout(0.1, function()
        local _ <close> = setmetatable({}, { __close = function()
          log[#log + 1] = "outer"
        end })
        coroutine.wrap(function()
          local _ <close> = setmetatable({}, { __close = function()
            log[#log + 1] = "inner"
          end })
          cr.sleep(5)
        end)()
      end)
    end)
    assert.same({ "inner", "outer" }, log)
  end)

  it("a timeout after the child exited kills what is left of its process group", function()
    local pidfile = os.tmpname()
    local r = cr.run(function()
      return cr.exec { "sh", "-c", "sleep 30 & echo $! > " .. pidfile .. "; echo early", timeout = 0.3 }
    end)
    assert.equal("early\n", r.stdout)
    assert_gone(take_pid(pidfile), "grandchild left running")
  end)
end)

describe("Ctrl-C in cr.run from the stock interpreter", function()
  local testenv = require "testenv"
  after_each(testenv.cleanup)

  -- Runs `code` in a real lua5.4 process (the module from the build, the
  -- scratch directory in $DIR) in the background. Each Ctrl-C waits until
  -- the file named in `signals` (one per signal) exists in $DIR, then sends
  -- SIGINT to lua5.4 alone. Returns the exit status, stdout, stderr and the
  -- directory. Bounded: lua5.4 is killed if it outlives the last signal by 10 s.
  local function interrupt(code, signals)
    local dir = testenv.tmpdir()
    local lua = "lua5.4"
    local preload = os.getenv("CONNRECIPE_ASAN_PRELOAD")
    if preload then -- an instrumented module needs the ASan runtime in the interpreter
      lua = "LD_PRELOAD=" .. testenv.quote(preload) .. " ASAN_OPTIONS=detect_leaks=0 lua5.4"
    end
    local steps = {}
    for _, file in ipairs(signals) do
      steps[#steps + 1] = ("for i in $(seq 200); do [ -e %s/%s ] && break; sleep 0.05; done; kill -INT $pid")
        :format(dir, file)
    end
    local script = ("DIR=%s LUA_CPATH=%s %s -e %s >%s/out 2>%s/err & pid=$!; %s; "
      .. "for i in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done; "
      .. "kill -9 $pid 2>/dev/null; wait $pid; echo $?"):format(
      dir, testenv.quote(os.getenv("CONNRECIPE_MODULE_DIR") .. "/?.so"), lua, testenv.quote(code),
      dir, dir, table.concat(steps, "; "))
    local r = testenv.sh(script)
    return tonumber(r.stdout), testenv.read_file(dir .. "/out"), testenv.read_file(dir .. "/err"), dir
  end

  it("cancels the tasks, kills the child, raises 'interrupted'; the state goes on and lua.c's handler is back",
    function()
      local status, out, err = interrupt([[
        local cr = require "connrecipe"
        local dir = os.getenv("DIR")
        local function touch(name) io.open(dir .. "/" .. name, "w"):close() end
        local ok, e = pcall(cr.run, function()
          cr.spawn(cr.sleep, 60) -- a sibling task, cancelled too
          local r = cr.exec { "sh", "-c", "echo $$ > " .. dir .. "/child.tmp; mv " .. dir .. "/child.tmp "
            .. dir .. "/child; exec sleep 60" }
          return "not interrupted", r
        end)
        print("first", ok, e)
        local f = io.open(dir .. "/child")
        local pid = f:read("n")
        f:close()
        local stat = io.open("/proc/" .. pid .. "/stat")
        print("child", stat and stat:read("a"):match("^%d+ %b() (%a)") or "gone")
        print("second", cr.run(function() cr.sleep(0.05) return "again" end))
        io.stdout:flush()
        touch("spinning")
        while true do end -- Ctrl-C now is lua.c's: it raises "interrupted!"
      ]], { "child", "spinning" })
      assert.equal("first\tfalse\tinterrupted\nchild\tgone\nsecond\tagain\n", out, err)
      assert.equal(1, status, "lua5.4 ended by its own Ctrl-C error: " .. err)
      assert.matches("interrupted!", err)
    end)

  it("interrupts a CPU-bound task, also after lua.c handled a Ctrl-C of its own", function()
    local status, out, err = interrupt([[
      local cr = require "connrecipe"
      local dir = os.getenv("DIR")
      local function touch(name) io.open(dir .. "/" .. name, "w"):close() end
      -- lua.c's own Ctrl-C handling outside cr.run replaces the main thread's hook
      print("outside", pcall(function() touch("spinning"); while true do end end))
      print("inside", pcall(cr.run, function() touch("task spinning"); while true do end end))
      print("after", cr.run(function() cr.sleep(0.01) return "fine" end))
    ]], { "spinning", "task\\ spinning" })
    assert.equal(0, status, err)
    assert.matches("^outside\tfalse\t[^\n]*interrupted!\ninside\tfalse\tinterrupted\nafter\tfine\n$", out)
  end)
end)
