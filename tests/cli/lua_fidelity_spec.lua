-- Lua code behaves as under the stock lua5.4 wherever connrecipe runs it
-- (issue 13): each block is one of the differences that were found, compared
-- with the stock interpreter in the same run where stock Lua has an answer.
local testenv = require "testenv"
local sh, quote = testenv.sh, testenv.quote

local lua = os.getenv("CONNRECIPE_LUA")
local cpath = os.getenv("CONNRECIPE_MODULE_DIR") .. "/?.so;"
-- The stock lua5.4 with connrecipe.so; in a sanitizer build the module needs
-- the ASan runtime preloaded (testenv.sh keeps it out of commands otherwise).
local lua_with_module = testenv.quote(lua)
if os.getenv("CONNRECIPE_ASAN_PRELOAD") then
  lua_with_module = "LD_PRELOAD=" .. testenv.quote(os.getenv("CONNRECIPE_ASAN_PRELOAD"))
    .. " ASAN_OPTIONS=detect_leaks=0 " .. lua_with_module
end

after_each(testenv.cleanup)

-- Writes code to ./f.lua in a fresh directory; returns the directory.
local function script(code)
  local dir = testenv.tmpdir()
  testenv.write_file(dir .. "/f.lua", code)
  return dir
end

local function in_dir(dir, cmd)
  return sh("cd " .. quote(dir) .. " && " .. cmd)
end

local function stock(code)
  return in_dir(script(code), quote(lua) .. " ./f.lua")
end

-- The ways connrecipe runs a file: as a recipe, at the top of a cr.spawn'ed
-- task, inside cr.run from the stock lua5.4 with connrecipe.so.
local modes = {
  recipe = function(dir)
    return in_dir(dir, quote(testenv.bin) .. " ./f.lua")
  end,
  spawn = function(dir)
    return in_dir(dir, quote(testenv.bin) .. " -e " .. quote([[
      local t = cr.spawn(dofile, "./f.lua")
      local _, err = t:join()
      if t:status() ~= "done" then error(err, 0) end]]))
  end,
  ["cr.run"] = function(dir)
    return in_dir(dir, lua_with_module .. " -e " .. quote("package.cpath = " .. ("%q"):format(cpath)
      .. " .. package.cpath; require('connrecipe').run(dofile, './f.lua')"))
  end,
}

-- Runs code in every mode and checks that it prints what the stock lua5.4 prints.
local function same_as_stock(code)
  local want = stock(code)
  assert.equal(0, want.code, want.stderr)
  for name, run in pairs(modes) do
    local r = run(script(code))
    assert.equal(want.stdout, r.stdout, name .. ": " .. r.stderr)
    assert.equal(0, r.code, name .. ": " .. r.stderr)
  end
  return want.stdout
end

describe("issue 13.1: the top level of a recipe or a task is lua.c's main chunk", function()
  it("yield there fails as outside a coroutine; isyieldable and running say main", function()
    local out = same_as_stock([[
      print(pcall(coroutine.yield, 1))
      print("after")
      local main, ismain = coroutine.running()
      print(coroutine.isyieldable(), ismain, coroutine.isyieldable(main))
      print(coroutine.status(main), coroutine.resume(main))
      print(pcall(coroutine.close, main))
    ]])
    assert.matches("^false\tattempt to yield from outside a coroutine\nafter\nfalse\ttrue\tfalse\n", out)
  end)

  it("so is a REPL line", function()
    local json = require "dkjson"
    local steps = {
      { expect = "cr> " },
      { send = "print(pcall(coroutine.yield, 1))\r" },
      { expect = "false\tattempt to yield from outside a coroutine" },
      { send = "print(coroutine.isyieldable(), select(2, coroutine.running()))\r" },
      { expect = "false\ttrue" }, { expect = "cr> " },
      { send = "\4" },
    }
    local r = sh(("python3 %s/tests/lib/ptydrive.py %s -- env XDG_STATE_HOME=%s %s"):format(
      testenv.source_dir, quote(json.encode(steps)), testenv.tmpdir(), quote(testenv.bin)))
    assert.equal(0, r.code, r.stderr)
    local doc = json.decode(r.stdout)
    assert.is_nil(doc.failed, "a step timed out; screen so far:\n" .. doc.output)
  end)

  it("another task cannot resume a task's coroutine", function()
    local r = testenv.run { "-e", [[
      local other
      local t = cr.spawn(function() other = coroutine.running(); cr.sleep(0.01); return "undisturbed" end)
      cr.sleep(0)
      print(coroutine.status(other), coroutine.isyieldable(other), coroutine.resume(other, "bogus"))
      print(t:join())]] }
    assert.equal("normal\tfalse\tfalse\tcannot resume non-suspended coroutine\nundisturbed\n", r.stdout, r.stderr)
  end)
end)

describe("issue 13.2: coroutine.wrap and __close", function()
  it("raises the error of a __close handler, not the body's", function()
    local out = same_as_stock([[
      local co = coroutine.wrap(function()
        local x <close> = setmetatable({}, {__close = function(_, e) error("close error after " .. e, 0) end})
        error("body error", 0)
      end)
      print(pcall(co))
      local co2 = coroutine.wrap(function()
        local x <close> = setmetatable({}, {__close = function() error("closing") end})
        coroutine.yield(1)
        error("later")
      end)
      print(co2(), pcall(co2))
    ]])
    assert.matches("^false\tclose error after body error\n1\tfalse\t%./f%.lua:7: closing\n$", out)
  end)
end)

describe("issue 13.3: error positions through coroutine.wrap", function()
  it("a string error gets the caller's position; so does 'cannot resume dead coroutine'", function()
    local out = same_as_stock([[
      local f = coroutine.wrap(function() error("boom") end)
      print(pcall(function() f() end))
      local g = coroutine.wrap(function() end)
      g()
      print(pcall(function() g() end))
    ]])
    assert.equal("false\t./f.lua:2: ./f.lua:1: boom\nfalse\t./f.lua:5: cannot resume dead coroutine\n", out)
  end)
end)

describe("issue 13.4: no internals leak", function()
  it("argument errors name the library function; the functions are C functions", function()
    local out = same_as_stock([[
      print(pcall(coroutine.wrap, 1))
      print(pcall(coroutine.resume, 1))
      print(pcall(coroutine.status))
      print(debug.getinfo(coroutine.wrap(print)).what, debug.getupvalue(coroutine.resume, 1))
      for _, name in ipairs{"create", "resume", "wrap", "yield", "status", "running", "isyieldable", "close"} do
        local info = debug.getinfo(coroutine[name])
        io.write(name, "=", info.what, info.nups, " ")
      end
      print(pcall(string.dump, coroutine.wrap(print)))
    ]])
    assert.matches("bad argument #1 to 'coroutine.wrap' %(function expected, got number%)", out)
  end)

  it("a traceback through a wrapped coroutine shows only the user's frames and [C] ones", function()
    local r = testenv.run { "-v", "-e", [[
      local inner = coroutine.wrap(function() cr.sleep(0); error("deep") end)
      local function outer() inner() end
      outer()]] }
    assert.equal(3, r.code)
    assert.matches("%(command line%):2: %(command line%):1: deep\nstack traceback:\n", r.stderr)
    assert.matches("\n\t[C]: in upvalue 'inner'\n\t(command line):2: in local 'outer'\n", r.stderr, 1, true)
    assert.not_matches("builtin:", r.stderr)
  end)
end)

describe("issue 13.4: a recipe's traceback", function()
  it("is lua.c's: the file is the main chunk, no frame of the runner below it", function()
    local code = "local function f() error('x') end\nf()\n"
    local want = stock(code)
    local r = in_dir(script(code), quote(testenv.bin) .. " -v ./f.lua")
    assert.equal(3, r.code)
    assert.equal(want.stderr:match("^[^:]*: (.*)$"), r.stderr:match("^connrecipe: (.*)$"))
  end)
end)

describe("issue 13.6: no hook unless a stop is due", function()
  it("debug.gethook() is nil in every mode, and after a bare require from the stock lua5.4", function()
    same_as_stock("print(debug.gethook())\nprint(coroutine.wrap(function() return debug.gethook() end)())\n")
    local r = sh(lua_with_module .. " -e " .. quote("package.cpath = " .. ("%q"):format(cpath)
      .. " .. package.cpath; require 'connrecipe'; print(debug.gethook())"))
    assert.equal("nil\n", r.stdout, r.stderr)
  end)

  it("--deadline stops a CPU loop that set its own hook, and one inside a coroutine", function()
    for _, code in ipairs {
      "debug.sethook(function() end, '', 1000000); while true do end",
      "coroutine.wrap(function() debug.sethook(function() end, 'l'); while true do end end)()",
      "cr.spawn(function() while true do end end)",
    } do
      local r = sh("timeout 60 " .. quote(testenv.bin) .. " --deadline 0.3 -e " .. quote(code))
      assert.equal(3, r.code, code .. ": " .. r.stderr)
      assert.matches("deadline of 0.3 s expired", r.stderr, 1, true)
    end
  end)
end)

describe("issue 13.7: a failed task's __close handlers", function()
  it("their error replaces the task's, and they can wait", function()
    local r = testenv.run { "-e", [[
      local t = cr.spawn(function()
        local x <close> = setmetatable({}, {__close = function(_, e)
          cr.sleep(0.001)
          error("close error after " .. e, 0)
        end})
        error("body error", 0)
      end)
      print(t:join())]] }
    assert.equal("nil\tclose error after body error\n", r.stdout, r.stderr)
  end)

  it("a recipe whose __close raises reports that error, as lua.c does", function()
    local code = [[
local x <close> = setmetatable({}, {__close = function() error("in close") end})
error("body")
]]
    local want = stock(code)
    local r = modes.recipe(script(code))
    assert.equal(3, r.code)
    assert.equal("./f.lua:1: in close", want.stderr:match("^[^:]*: ([^\n]*)"))
    assert.equal(want.stderr:match("^[^:]*: ([^\n]*)"), r.stderr:match("^connrecipe: ([^\n]*)"))
  end)
end)

describe("issue 13.8: a coroutine waiting in an async call", function()
  it("cannot be resumed or closed by another task; its wait goes on undisturbed", function()
    local r = testenv.run { "-e", [[
      local sleeper = cr.spawn(cr.sleep, 30)
      local co = coroutine.create(function() return sleeper:join() end)
      local t = cr.spawn(function() return coroutine.resume(co) end)
      cr.sleep(0) -- t runs: co waits in join
      print(coroutine.status(co), coroutine.resume(co, "bogus"))
      print(pcall(coroutine.close, co))
      sleeper:cancel()
      print(t:join())]] }
    assert.equal("normal\tfalse\tcannot resume non-suspended coroutine (it waits in an async call of its "
      .. "task; only the scheduler resumes it)\nfalse\tcannot close a normal coroutine\ntrue\tnil\tcancelled\n",
      r.stdout, r.stderr)
  end)
end)

describe("issue 13.9: smaller ones", function()
  it("an error out of cr.run that nobody catches keeps the task's traceback", function()
    local dir = script([[
      package.cpath = ]] .. ("%q"):format(cpath) .. [[ .. package.cpath
      local cr = require "connrecipe"
      local function inner() error("boom") end
      print(pcall(cr.run, function() error("caught", 0) end))
      cr.run(function() inner() end)
    ]])
    local r = in_dir(dir, lua_with_module .. " ./f.lua")
    assert.equal("false\tcaught\n", r.stdout)
    assert.matches("^[^:]*lua5.4: %./f%.lua:3: boom\nstack traceback:\n\t%[C%]: in function 'error'\n\t"
      .. "%./f%.lua:3: in upvalue 'inner'\n.*in function 'connrecipe.run'", r.stderr)
  end)

  it("C modules load in the executable as in lua5.4 (it links the VM in and exports its API)", function()
    local probe = sh(quote(lua) .. " -e 'require \"cjson\"'")
    if probe.code ~= 0 then
      pending("lua-cjson is not installed")
      return
    end
    same_as_stock('print(require("cjson").encode({1, 2}))\n')
  end)

  it("the executable collects garbage in generational mode, as lua.c", function()
    same_as_stock('print(collectgarbage("incremental"))\n')
  end)

  -- the executable skips the frees of lua_close at exit, not its finalizers
  it("finalizers of live objects run when the state closes at exit, in order, as in lua5.4", function()
    local out = same_as_stock([[
      kept = {}
      for i = 1, 3 do
        kept[i] = setmetatable({}, { __gc = function() io.write("finalized ", i, "\n") end })
      end
      print("end of chunk")
    ]])
    assert.equal("end of chunk\nfinalized 3\nfinalized 2\nfinalized 1\n", out)
  end)

  it("an async call under a gsub callback, coroutines away, says it cannot wait there", function()
    local r = testenv.run { "-e", [[
      local outer = coroutine.wrap(function()
        return string.gsub("a", "a", function()
          return coroutine.wrap(function() cr.sleep(0); return "b" end)()
        end)
      end)
      print(pcall(outer))]] }
    assert.matches("cr.sleep: cannot wait here: the call is under a C function that cannot yield", r.stdout, 1,
      true)
  end)
end)
