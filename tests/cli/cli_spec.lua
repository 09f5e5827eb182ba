-- The command line: exit codes, error messages, option placement, recipe lookup.
local testenv = require "testenv"
local run, sh, quote = testenv.run, testenv.sh, testenv.quote
local fixtures = testenv.source_dir .. "/tests/fixtures/recipes"

local function fixture(name)
  return fixtures .. "/" .. name
end

after_each(testenv.cleanup)

describe("connrecipe --help and --version", function()
  it("prints usage and the exit codes, exit 0", function()
    local r = run { "--help" }
    assert.equal(0, r.code)
    assert.matches("usage: connrecipe", r.stdout)
    assert.matches("130  interrupted", r.stdout)
    assert.matches("CONNRECIPE_PATH", r.stdout)
  end)

  it("prints the version", function()
    local r = run { "--version" }
    assert.equal(0, r.code)
    assert.matches("^connrecipe %d+%.%d+%.%d+", r.stdout)
  end)
end)

describe("bad usage exits 2 with one line", function()
  it("unknown option", function()
    local r = run { "--bogus" }
    assert.equal(2, r.code)
    assert.equal("connrecipe: unknown option '--bogus' (see 'connrecipe --help')\n", r.stderr)
  end)

  it("bad --deadline and --color values", function()
    local r = run { "--deadline", "soon", "-e", "" }
    assert.equal(2, r.code)
    assert.matches("%-%-deadline needs a number of seconds > 0, got 'soon'", r.stderr)
    r = run { "--color=sometimes", "-e", "" }
    assert.equal(2, r.code)
    assert.matches("%-%-color takes auto, always or never, got 'sometimes'", r.stderr)
  end)

  it("-e without code", function()
    local r = run { "-e" }
    assert.equal(2, r.code)
    assert.matches("%-e needs a chunk of Lua code", r.stderr)
  end)

  it("recipe not found lists the directories searched", function()
    local env = "CONNRECIPE_PATH=/nonexistent/a:/nonexistent/b HOME=/nonexistent/home XDG_CONFIG_HOME="
    local r = run({ "no-such-recipe" }, { env = env })
    assert.equal(2, r.code)
    assert.equal(1, select(2, r.stderr:gsub("\n", "")), "one line")
    assert.matches("recipe 'no%-such%-recipe' not found; searched: /nonexistent/a, /nonexistent/b, "
      .. "/nonexistent/home/.config/connrecipe/recipes, /etc/connrecipe/recipes, built%-in recipes", r.stderr)
  end)

  it("a recipe path that does not exist", function()
    local r = run { "./nope/missing.lua" }
    assert.equal(2, r.code)
    assert.matches("cannot open recipe ./nope/missing.lua: no such file", r.stderr)
  end)
end)

describe("recipe errors exit 3", function()
  it("a syntax error names file and line", function()
    local r = run { fixture("syntax_error.lua") }
    assert.equal(3, r.code)
    assert.matches("^connrecipe: .*syntax_error.lua:3: unexpected symbol near 'local'\n$", r.stderr)
  end)

  it("a runtime error names file and line, no traceback", function()
    local r = run { fixture("raises.lua") }
    assert.equal(3, r.code)
    assert.equal("before the error\n", r.stdout)
    assert.matches("^connrecipe: .*raises.lua:3: something broke\n$", r.stderr)
  end)

  it("-v adds the traceback", function()
    local r = run { "-v", fixture("raises.lua") }
    assert.equal(3, r.code)
    assert.matches("raises.lua:3: something broke\nstack traceback:", r.stderr)
    assert.matches("in local 'inner'", r.stderr)
  end)

  it("-e chunks report (command line)", function()
    local r = run { "-e", "error('bad')" }
    assert.equal(3, r.code)
    assert.equal("connrecipe: (command line):1: bad\n", r.stderr)
  end)
end)

describe("exit status from the recipe", function()
  for _, case in ipairs { { "true", 0 }, { "false", 1 }, { "0", 0 }, { "1", 1 }, { "2", 2 }, { "nil", 0 } } do
    it("returning " .. case[1] .. " exits " .. case[2], function()
      assert.equal(case[2], run({ fixture("exitcode.lua"), case[1] }).code)
    end)
  end
end)

describe("options before and after the recipe name", function()
  it("shared options are taken from either side; the rest goes to the recipe", function()
    local r = run { "--json", fixture("show_args.lua"), "a", "-v", "--port", "8080", "--color=always", "b" }
    assert.equal(0, r.code)
    assert.matches("args:a,%-%-port,8080,b\n", r.stdout)
    assert.matches("json:true verbose:true quiet:false color:true", r.stdout)
  end)

  it("everything after -- goes to the recipe untouched", function()
    local r = run { fixture("show_args.lua"), "x", "--", "cmd", "--json", "-v" }
    assert.matches("args:x,%-%-,cmd,%-%-json,%-v\n", r.stdout)
    assert.matches("json:false verbose:false", r.stdout)
  end)

  it("arg[0] is the recipe", function()
    local r = run { fixture("show_args.lua") }
    assert.matches("arg0:.*show_args.lua", r.stdout)
  end)
end)

describe("colour", function()
  it("is off when stdout is not a terminal, on with --color=always, off with NO_COLOR", function()
    assert.matches("color:false", run({ fixture("show_args.lua") }).stdout)
    assert.matches("color:true", run({ "--color=always", fixture("show_args.lua") }).stdout)
    assert.matches("color:false", run({ "--color=never", fixture("show_args.lua") }).stdout)
    -- auto on a terminal: script(1) gives the program a pty
    if testenv.have("script") then
      local r = sh("NO_COLOR=1 script -qec " .. quote(testenv.bin .. " " .. fixture("show_args.lua")) .. " /dev/null")
      assert.matches("color:false", r.stdout)
      r = sh("NO_COLOR= script -qec " .. quote(testenv.bin .. " " .. fixture("show_args.lua")) .. " /dev/null")
      assert.matches("color:true", r.stdout)
    end
  end)
end)

describe("recipe lookup", function()
  it("finds a name with or without .lua on CONNRECIPE_PATH, first directory wins", function()
    local env = "CONNRECIPE_PATH=" .. fixtures .. ":" .. testenv.source_dir .. "/tests/fixtures/recipes2"
    local r = run({ "show_args" }, { env = env })
    assert.equal(0, r.code)
    assert.matches("args:", r.stdout)
    local reversed = "CONNRECIPE_PATH=" .. testenv.source_dir .. "/tests/fixtures/recipes2:" .. fixtures
    r = run({ "show_args.lua" }, { env = reversed })
    assert.equal("second directory\n", r.stdout)
  end)

  it("looks in XDG_CONFIG_HOME/connrecipe/recipes", function()
    local dir = testenv.trusted_tmpdir()
    os.execute("mkdir -p " .. dir .. "/connrecipe/recipes")
    testenv.write_file(dir .. "/connrecipe/recipes/mine.lua", "-- My site check.\nprint('mine ran')\n")
    local r = run({ "mine" }, { env = "CONNRECIPE_PATH= XDG_CONFIG_HOME=" .. dir })
    assert.equal("mine ran\n", r.stdout)
    local list = run({ "--list" }, { env = "CONNRECIPE_PATH= XDG_CONFIG_HOME=" .. dir })
    assert.matches("mine%s+My site check%.%s+" .. dir:gsub("%p", "%%%0") .. "/connrecipe/recipes\n", list.stdout)
  end)

  it("a file on the path overrides a built-in recipe of the same name", function()
    local builtin = run({ "--list", "--json" }).stdout
    local json = require "dkjson"
    local doc = json.decode(builtin)
    assert.is_table(doc.recipes)
    local name
    for _, r in ipairs(doc.recipes) do
      if r.path == "built-in" then
        name = r.name
        break
      end
    end
    if not name then
      return pending("no built-in recipe yet")
    end
    local dir = testenv.trusted_tmpdir()
    testenv.write_file(dir .. "/" .. name .. ".lua", "-- Overrides the built-in.\nprint('override')\n")
    local r = run({ name }, { env = "CONNRECIPE_PATH=" .. dir })
    assert.equal("override\n", r.stdout)
  end)

  it("--list --json is one JSON document", function()
    local r = run({ "--list", "--json" }, { env = "CONNRECIPE_PATH=" .. fixtures })
    assert.equal(0, r.code)
    local doc = require("dkjson").decode(r.stdout)
    local names = {}
    for _, rec in ipairs(doc.recipes) do
      names[rec.name] = rec.description
    end
    assert.equal("Prints its arguments and the shared options it received.", names.show_args)
  end)
end)

describe("chunks", function()
  it("-e runs chunks in order as tasks", function()
    local r = run { "-e", "cr.sleep(0.01) io.write('a')", "-e", "io.write('b')" }
    assert.equal(0, r.code)
    assert.equal("ab", r.stdout)
  end)

  it("- reads a chunk from standard input; so does piped input with no arguments", function()
    local r = run({ "-" }, { stdin = "cr.sleep(0.01) print('from stdin')" })
    assert.equal("from stdin\n", r.stdout)
    r = run({}, { stdin = "print(1 + 1)" })
    assert.equal("2\n", r.stdout)
  end)
end)

describe("stopping", function()
  it("--deadline stops the run, keeps partial output, exit 3", function()
    local r = run { "--deadline", "0.3", fixture("sleeper.lua") }
    assert.equal(3, r.code)
    assert.equal("started\n", r.stdout)
    assert.equal("connrecipe: deadline of 0.3 s expired; the output above is partial\n", r.stderr)
  end)

  it("--deadline interrupts a CPU-bound recipe", function()
    local r = run { "--deadline", "0.3", fixture("spin.lua") }
    assert.equal(3, r.code)
    assert.matches("deadline of 0.3 s expired", r.stderr)
  end)

  local function interrupt(recipe, signal)
    local pidfile = os.tmpname()
    local out = os.tmpname()
    -- start in the background, wait until it printed, send SIGINT, collect the status
    local r = sh(("%s %s >%s 2>&1 & echo $! >%s; pid=$!; for i in $(seq 100); do grep -q . %s && break; "
      .. "sleep 0.05; done; kill -%s $pid; wait $pid; echo \"status=$?\"; cat %s"):format(
      quote(testenv.bin), quote(fixture(recipe)), out, pidfile, out, signal or "INT", out))
    os.remove(pidfile)
    os.remove(out)
    return r.stdout
  end

  -- This run's `sleep 60` processes (zombies aside): the harness marks what
  -- it starts, so other specs' `sleep 60`, started and ended meanwhile, are
  -- not counted.
  local function sleepers()
    local n = 0
    for _, pid in ipairs(testenv.processes_of(testenv.owner)) do
      n = n + (testenv.read_file("/proc/" .. pid .. "/cmdline") == "sleep\0" .. "60\0" and 1 or 0)
    end
    return n
  end

  it("Ctrl-C cancels pending timers and children, exit 130", function()
    local before = sleepers()
    local out = interrupt("sleeper.lua")
    assert.matches("status=130", out)
    assert.matches("connrecipe: interrupted", out)
    assert.equal(before, sleepers(), "a child process was left running")
  end)

  it("SIGTERM and SIGHUP end it by that signal and its commands with it", function()
    for signal, status in pairs { TERM = 143, HUP = 129 } do
      local before = sleepers()
      local out = interrupt("sleeper.lua", signal)
      assert.matches("status=" .. status, out, signal)
      local left = before
      testenv.wait_for(function()
        left = sleepers()
        return left == before
      end, 5)
      assert.equal(before, left, "SIG" .. signal .. ": a child process was left running")
    end
  end)

  it("Ctrl-C interrupts a pure CPU loop", function()
    local out = interrupt("spin.lua")
    assert.matches("status=130", out)
  end)
end)
