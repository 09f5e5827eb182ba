-- The wait-for-it mode: wait-for-it's own command line, run as `connrecipe
-- wait-for-it ...` and through links named wait-for-it and wait-for-it.sh.
-- The first block holds the cases of wait-for-it's own test suite
-- (vishnubob/wait-for-it, test/wait-for-it.py): the same command lines,
-- exit codes and messages (the program's name aside). Real socat listeners
-- inside a private network namespace; signals sent with kill.
local testenv = require "testenv"
local q = testenv.quote

local MISSING = "^Error: you need to provide a host and port to test%.\n"

describe("wait-for-it mode", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "socat" } })

  -- Runs PROGRAM (default: `connrecipe wait-for-it`) with a shell-quoted
  -- argument string inside the test's namespace, as the upstream suite
  -- does with shlex.
  local function run(args, program)
    program = program or (q(testenv.bin) .. " wait-for-it")
    return testenv.sh(testenv.in_netns(netns(), program .. " " .. args))
  end

  local function listen(port)
    testenv.tcp_listen(netns(), port)
    return port
  end

  describe("the cases of wait-for-it's own test suite", function()
    it("no arguments: the missing-arguments line, the usage, exit 1, nothing on stdout", function()
      local r = run("")
      assert.equal(1, r.code)
      assert.matches(MISSING .. "Usage:", r.stderr)
      assert.equal("", r.stdout)
    end)

    it("--help: the usage on stderr, a failing exit status", function()
      local r = run("--help")
      assert.matches("^Usage:\n", r.stderr)
      assert.equal("", r.stdout)
      assert.equal(1, r.code)
    end)

    it("--host without --port, and --port without --host: the missing-arguments line", function()
      for _, args in ipairs { "--host=localhost", "--port=80" } do
        local r = run(args)
        assert.matches(MISSING, r.stderr)
        assert.equal("", r.stdout)
        assert.equal(1, r.code)
      end
    end)

    it("--host= --port= --timeout= with a listener: waits, exit 0", function()
      local port = listen(7301)
      local r = run(("--host=localhost --port=%d --timeout=1"):format(port))
      assert.equal(0, r.code, r.stderr)
      assert.matches("^wait%-for%-it: waiting 1 seconds for localhost:7301\n", r.stderr)
      assert.equal("", r.stdout)
    end)

    it("host:port --timeout= with a listener: exit 0", function()
      listen(7302)
      local r = run("localhost:7302 --timeout=1")
      assert.equal(0, r.code, r.stderr)
      assert.matches("^wait%-for%-it: waiting 1 seconds for localhost:7302\n", r.stderr)
    end)

    it("nothing listening: the timeout message, exit 124", function()
      local r = run("localhost:8929 --timeout=1")
      assert.equal(124, r.code, r.stderr)
      assert.matches("wait%-for%-it: timeout occurred after waiting 1 seconds for localhost:8929\n$", r.stderr)
      assert.equal("", r.stdout)
    end)

    it("-- CMD runs the command once the port is up; its output on stdout, exit 0", function()
      listen(7303)
      local r = run([[localhost:7303 -- echo "CMD OUTPUT"]])
      assert.equal(0, r.code, r.stderr)
      assert.equal("CMD OUTPUT\n", r.stdout)
      assert.matches("wait%-for%-it: localhost:7303 is available after %d+ seconds\n$", r.stderr)
    end)

    it("a command that fails: its stderr and its exit status", function()
      listen(7304)
      local r = run("localhost:7304 -- ls not_real_file")
      assert.equal(2, r.code) -- ls's own status for a missing file
      assert.matches("No such file or directory\n$", r.stderr)
      assert.equal("", r.stdout)
    end)

    it("without --strict the command runs after a timeout, and its status is the exit status", function()
      local r = run([[localhost:8929 --timeout=1 -- echo "CMD OUTPUT"]])
      assert.equal(0, r.code, r.stderr)
      assert.equal("CMD OUTPUT\n", r.stdout)
      assert.matches("timeout occurred after waiting 1 seconds for localhost:8929\n$", r.stderr)
    end)
  end)

  it("-s/--strict: after a timeout the command is not run, exit 124", function()
    for _, flag in ipairs { "-s", "--strict" } do
      local r = run("127.0.0.1:8930 -t 1 " .. flag .. " -- echo should-not-run")
      assert.equal(124, r.code)
      assert.equal("", r.stdout)
      assert.matches("wait%-for%-it: strict mode, refusing to execute subprocess\n$", r.stderr)
    end
  end)

  it("-h HOST -p PORT -t N, and -q/--quiet: no messages at all", function()
    listen(7305)
    for _, flag in ipairs { "-q", "--quiet" } do
      local r = run("-h 127.0.0.1 -p 7305 -t 5 " .. flag .. " -- echo up")
      assert.equal(0, r.code, r.stderr)
      assert.equal("up\n", r.stdout)
      assert.equal("", r.stderr)
    end
    local r = run("-q 127.0.0.1:8931 -t 1")
    assert.equal(124, r.code)
    assert.equal("", r.stderr)
  end)

  it("-t 0: no timeout", function()
    listen(7306)
    local r = run("127.0.0.1:7306 -t 0")
    assert.equal(0, r.code, r.stderr)
    assert.matches("^wait%-for%-it: waiting for 127%.0%.0%.1:7306 without a timeout\n", r.stderr)
  end)

  it("IPv6 as [ADDRESS]:PORT", function()
    testenv.tcp_listen(netns(), 7307, { bind = "::1" })
    local r = run("[::1]:7307 -t 5")
    assert.equal(0, r.code, r.stderr)
    assert.matches("for ::1:7307\n", r.stderr)
  end)

  it("bad usage: the reason on one line, the usage, exit 1, without waiting", function()
    local cases = {
      { "127.0.0.1:http", "^wait%-for%-it: invalid port 'http' %(expected 1%-65535%)\nUsage:" },
      { "127.0.0.1:1 -t soon",
        "^wait%-for%-it: invalid timeout 'soon' %(expected a number of seconds, 0 for none%)\n" },
      { "127.0.0.1:1 -t -1", "^wait%-for%-it: invalid timeout '%-1'" },
      { "127.0.0.1:1 --bogus", "^wait%-for%-it: Unknown argument: %-%-bogus\nUsage:" },
      { "-p 80 -h", "^wait%-for%-it: %-h needs a value\n" },
    }
    for _, c in ipairs(cases) do
      local r = run(c[1])
      assert.equal(1, r.code, c[1])
      assert.matches(c[2], r.stderr)
      assert.equal("", r.stdout)
    end
  end)

  it("a host with control characters is refused, shown escaped, never sent to the terminal", function()
    local r = run(q("bad\27[31mhost:80") .. " -t 0.2")
    assert.equal(1, r.code)
    assert.matches("^wait%-for%-it: control character in host name 'bad\\x1b%[31mhost:80'\nUsage:", r.stderr)
    assert.is_nil(r.stderr:find("\27", 1, true))
  end)

  it("a command that is not there: one line, exit 127", function()
    listen(7308)
    local r = run("127.0.0.1:7308 -q -- no-such-command-crtest")
    assert.equal(127, r.code)
    assert.equal("wait-for-it: no-such-command-crtest: not found\n", r.stderr)
  end)

  it("connrecipe's own options before the mode apply; --format is refused", function()
    local r = run("127.0.0.1:8932 -t 30", q(testenv.bin) .. " --deadline 0.5 wait-for-it")
    assert.equal(3, r.code)
    assert.matches("deadline of 0%.5 s expired", r.stderr)
    r = run("127.0.0.1:8932", q(testenv.bin) .. " --json wait-for-it")
    assert.equal(1, r.code)
    assert.equal("wait-for-it: prints wait-for-it's messages, not --format=json\n", r.stderr)
  end)

  it("--deadline bounds the wait, not the command that replaces connrecipe", function()
    listen(7311)
    local r = run([[127.0.0.1:7311 -q -- sh -c 'sleep 1.5; echo survived']],
      q(testenv.bin) .. " --deadline 0.5 wait-for-it")
    assert.equal(0, r.code, r.stderr)
    assert.equal("survived\n", r.stdout)
  end)

  it("called as a function (cr.recipes, the REPL's way): the command runs as a child, connrecipe goes on", function()
    listen(7312)
    local r = testenv.sh(testenv.in_netns(netns(), q(testenv.bin) .. " -e " .. q(
      [[print("returned", cr.recipes["wait-for-it"]("127.0.0.1:7312", "-q", "--", "sh", "-c", "echo child; exit 5"))]]
    )))
    assert.equal(0, r.code, r.stderr)
    assert.equal("child\nreturned\t5\n", r.stdout)
  end)

  it("through a link named wait-for-it or wait-for-it.sh: the same, under the link's name", function()
    listen(7309)
    local dir = testenv.tmpdir()
    for _, link in ipairs { "wait-for-it", "wait-for-it.sh" } do
      assert(os.execute(("ln -s %s %s/%s"):format(q(testenv.bin), dir, link)))
      local r = run("-h 127.0.0.1 -p 7309 -t 5 -- echo through-" .. link, q(dir .. "/" .. link))
      assert.equal(0, r.code, r.stderr)
      assert.equal("through-" .. link .. "\n", r.stdout)
      assert.matches("^" .. link:gsub("%p", "%%%0") .. ": waiting 5 seconds for 127%.0%.0%.1:7309\n", r.stderr)
      r = run("", q(dir .. "/" .. link)) -- no arguments: wait-for-it's, not connrecipe's REPL or stdin
      assert.equal(1, r.code)
      assert.matches(MISSING, r.stderr)
    end
  end)

  it("the command replaces the process: same pid, and SIGTERM sent to it reaches the command", function()
    listen(7310)
    local dir = testenv.tmpdir()
    -- the command records its pid, then waits for SIGTERM and exits 42 on it
    local command = ("echo $$ > %s/cmd.pid; trap 'echo term > %s/got; exit 42' TERM; "
      .. "while :; do sleep 0.05; done"):format(dir, dir)
    testenv.background(testenv.in_netns(netns(), ("sh -c %s"):format(q(
      ("echo $$ > %s/wfi.pid; %s wait-for-it -q 127.0.0.1:7310 -- sh -c %s; echo $? > %s/status"):format(
        dir, q(testenv.bin), q(command), dir)))))
    assert.is_true(testenv.wait_for(function()
      return testenv.read_file(dir .. "/cmd.pid") ~= nil
    end, 10), "the command did not start")
    local cmd_pid = testenv.read_file(dir .. "/cmd.pid"):match("%d+")
    -- connrecipe is the shell's child: the command runs under that same pid
    local parent = testenv.read_file("/proc/" .. cmd_pid .. "/stat"):match("^%d+ %b() %a (%d+)")
    assert.equal(testenv.read_file(dir .. "/wfi.pid"):match("%d+"), parent)
    assert(os.execute("kill -TERM " .. cmd_pid))
    assert.is_true(testenv.wait_for(function()
      return testenv.read_file(dir .. "/status") ~= nil
    end, 10), "the command did not end on SIGTERM")
    assert.equal("term\n", testenv.read_file(dir .. "/got"))
    assert.equal("42\n", testenv.read_file(dir .. "/status"))
  end)
end)
