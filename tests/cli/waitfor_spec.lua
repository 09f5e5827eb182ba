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

  it("shows control characters in a target's name escaped", function()
    local r = testenv.run_in_netns(netns(), { "waitfor", "unix:/nonexistent/bad\27[31m.sock", "--timeout", "0.2" })
    assert.equal(1, r.code)
    assert.matches("^unix:/nonexistent/bad\\x1b%[31m%.sock did not accept a connection", r.stdout)
    assert.is_nil(r.stdout:find("\27", 1, true))
  end)

  it("rejects a bad target with exit 2", function()
    local r = testenv.run_in_netns(netns(), { "waitfor", "localhost:99999" })
    assert.equal(2, r.code)
    assert.matches("port 99999 out of range", r.stderr)
  end)

  it("waits for every target: exit 0 once all accepted, a line for each", function()
    listen_later(0.3, "TCP4-LISTEN:7077,bind=127.0.0.1,reuseaddr,fork")
    listen_later(0, "TCP4-LISTEN:7078,bind=127.0.0.1,reuseaddr,fork")
    local r = testenv.run_in_netns(netns(), { "waitfor", "127.0.0.1:7077", "127.0.0.1:7078", "--timeout", "10",
      "--json" })
    assert.equal(0, r.code, r.stderr)
    local doc = dkjson.decode(r.stdout)
    assert.is_true(doc.up)
    assert.equal(2, #doc.targets)
    assert.equal("127.0.0.1:7077", doc.targets[1].target)
    assert.equal("127.0.0.1:7078", doc.targets[2].target)
    assert.is_true(doc.targets[1].up and doc.targets[2].up)
  end)

  it("called as a function with several targets, by position or by name", function()
    listen_later(0, "TCP4-LISTEN:7087,bind=127.0.0.1,reuseaddr,fork")
    listen_later(0, "TCP4-LISTEN:7088,bind=127.0.0.1,reuseaddr,fork")
    assert(testenv.wait_listening(netns(), "tcp", 7087) and testenv.wait_listening(netns(), "tcp", 7088))
    local r = testenv.sh(testenv.in_netns(netns(), testenv.quote(testenv.bin) .. " -e " .. testenv.quote([[
      local a = cr.recipes.waitfor("127.0.0.1:7087", "127.0.0.1:7088", { timeout = 5 })
      local b = cr.recipes.waitfor { target = { "127.0.0.1:7087", "127.0.0.1:7088" }, timeout = 5 }
      print(#a.data.targets, a.data.up, #b.data.targets, b.data.up)]])))
    assert.equal(0, r.code, r.stderr)
    assert.equal("2\ttrue\t2\ttrue\n", r.stdout)
  end)

  it("several targets, one never up: exit 1, the command not run, each target's line", function()
    listen_later(0, "TCP4-LISTEN:7079,bind=127.0.0.1,reuseaddr,fork")
    assert(testenv.wait_listening(netns(), "tcp", 7079))
    local r = testenv.run_in_netns(netns(), { "waitfor", "127.0.0.1:7079", "127.0.0.1:7080", "--timeout", "0.5",
      "--", "echo", "should-not-run" })
    assert.equal(1, r.code)
    assert.equal("", r.stdout)
    assert.matches("^1 of 2 targets did not accept a connection within 0%.5 s\n", r.stderr)
    assert.matches("\n127%.0%.0%.1:7079 is up after [%d.]+ s %(1 attempt%)\n", r.stderr)
    assert.matches("127%.0%.0%.1:7080 did not accept a connection within 0%.5 s %(%d+ attempts, last: refused%)\n",
      r.stderr)
  end)

  it("--invert waits until the target no longer accepts connections", function()
    local dir = testenv.tmpdir()
    -- a listener that stops once told to
    testenv.background_in(netns(), ("sh -c 'timeout 20 socat TCP4-LISTEN:7081,bind=127.0.0.1,reuseaddr,fork "
      .. "SYSTEM:true & echo $! > %s/pid; wait'"):format(dir))
    assert(testenv.wait_listening(netns(), "tcp", 7081))
    local r = testenv.run_in_netns(netns(), { "waitfor", "127.0.0.1:7081", "--invert", "--timeout", "0.3" })
    assert.equal(1, r.code, "it is still up")
    assert.matches("^127%.0%.0%.1:7081 still accepts connections after 0%.3 s %(%d+ attempts%)\n$", r.stdout)
    assert(os.execute("kill " .. testenv.read_file(dir .. "/pid"):match("%d+")))
    r = testenv.run_in_netns(netns(), { "waitfor", "127.0.0.1:7081", "--invert", "--timeout", "10", "--",
      "echo", "gone" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("gone\n", r.stdout)
    assert.matches("^127%.0%.0%.1:7081 is down after [%d.]+ s %(%d+ attempts?, last: refused%)\n$", r.stderr)
  end)

  it("-h never swallows an argument: '-h HOST' is a usage error, exit 2, the command not run", function()
    local r = testenv.run_in_netns(netns(), { "waitfor", "-h", "db", "-p", "5432", "--", "echo", "should-not-run" })
    assert.equal(2, r.code)
    assert.equal("", r.stdout)
    assert.matches("^connrecipe: waitfor: %-h takes no value %(it is %-%-help%), got '%-h db'; wait%-for%-it's",
      r.stderr)
    r = testenv.run_in_netns(netns(), { "waitfor", "127.0.0.1:1", "-h" }) -- last: the help
    assert.equal(0, r.code)
    assert.matches("^usage: connrecipe waitfor TARGET%.%.%.", r.stdout)
  end)

  -- A number and its newline are in the file: the shell creates the file
  -- (echo N > FILE) before it writes, and a read in between finds it empty.
  local function written(path)
    return (testenv.read_file(path) or ""):find("^%d+\n") ~= nil
  end

  -- Starts waitfor with a command in the background, under a shell that
  -- records connrecipe's pid and exit status in DIR; returns connrecipe's
  -- pid and the command's once the command runs.
  -- host: what waitfor is given (127.0.0.1 unless said)
  local function waitfor_with_command(dir, port, command, host)
    testenv.background(testenv.in_netns(netns(), ("sh -c %s"):format(testenv.quote(
      ("%s waitfor %s:%d -q -- sh -c %s & echo $! > %s/cr.pid; wait $!; echo $? > %s/status"):format(
        testenv.quote(testenv.bin), host or "127.0.0.1", port, testenv.quote(command), dir, dir)))))
    assert.is_true(testenv.wait_for(function()
      return written(dir .. "/cmd.pid") and written(dir .. "/cr.pid")
    end, 10), "the command did not start")
    return testenv.read_file(dir .. "/cr.pid"):match("%d+"), testenv.read_file(dir .. "/cmd.pid"):match("%d+")
  end

  local function status_of(dir)
    assert.is_true(testenv.wait_for(function()
      return written(dir .. "/status")
    end, 10), "connrecipe did not end")
    return testenv.read_file(dir .. "/status")
  end

  local function gone(pid)
    return testenv.sh("kill -0 " .. pid).code ~= 0
  end

  it("SIGTERM to waitfor goes on to the command, which is not left running; its status is waitfor's", function()
    listen_later(0, "TCP4-LISTEN:7082,bind=127.0.0.1,reuseaddr,fork")
    local dir = testenv.tmpdir()
    local cr_pid, cmd_pid = waitfor_with_command(dir, 7082, ("echo $$ > %s/cmd.pid; exec sleep 60"):format(dir))
    assert.is_false(gone(cmd_pid))
    assert(os.execute("kill -TERM " .. cr_pid))
    assert.equal("143\n", status_of(dir)) -- the command died of SIGTERM: 128 + 15
    assert.is_true(gone(cmd_pid), "the command is still running")
  end)

  it("SIGINT and SIGTERM reach a command that handles them; waitfor waits for its end", function()
    listen_later(0, "TCP4-LISTEN:7083,bind=127.0.0.1,reuseaddr,fork")
    for _, sig in ipairs { "INT", "TERM" } do
      local dir = testenv.tmpdir()
      local cr_pid, cmd_pid = waitfor_with_command(dir, 7083, ("trap 'echo %s > %s/got; exit 42' %s; "
        .. "echo $$ > %s/cmd.pid; while :; do sleep 0.05; done"):format(sig, dir, sig, dir))
      assert(os.execute(("kill -%s %s"):format(sig, cr_pid)))
      assert.equal("42\n", status_of(dir), sig)
      assert.equal(sig .. "\n", testenv.read_file(dir .. "/got"))
      assert.is_true(gone(cmd_pid), "the command is still running")
    end
  end)

  -- A signal sent to the process is taken by any thread that does not block
  -- it. cr.exec blocks SIGINT and SIGTERM in the thread running Lua until the
  -- child is registered for forwarding; a libuv worker that did not block them
  -- too would take one sent in that window (the test above, under load, right
  -- after the command wrote its pid) and SIGTERM's default action would end
  -- connrecipe under the command. The workers block them for good.
  it("only the thread running Lua takes SIGINT, SIGTERM, SIGHUP and SIGQUIT: the thread pool's block them",
    function()
    listen_later(0, "TCP4-LISTEN:7087,bind=127.0.0.1,reuseaddr,fork")
    local dir = testenv.tmpdir()
    -- a name to resolve: libuv's pool starts with the first lookup (a run
    -- with nothing for it to do creates none of its threads)
    testenv.netns_etc(netns(), { hosts = "127.0.0.1 pool-starter.test\n" })
    local cr_pid = waitfor_with_command(dir, 7087, ("echo $$ > %s/cmd.pid; exec sleep 60"):format(dir),
      "pool-starter.test")
    local out = testenv.sh(("grep -H '^SigBlk:' /proc/%s/task/*/status"):format(cr_pid)).stdout
    local workers = 0
    for tid, mask in out:gmatch("/task/(%d+)/status:SigBlk:%s+(%x+)") do
      local bits = tonumber(mask, 16)
      if tid ~= cr_pid then
        workers = workers + 1
        for _, sig in ipairs { 1, 2, 3, 15 } do -- SIGHUP, SIGINT, SIGQUIT, SIGTERM
          assert.equal(1, (bits >> (sig - 1)) & 1, ("thread %s does not block signal %d: SigBlk %s"):format(tid,
            sig, mask))
        end
      end
    end
    assert.is_true(workers >= 1, out)
    assert(os.execute("kill -TERM " .. cr_pid))
    assert.equal("143\n", status_of(dir))
  end)

  -- Runs a command line on a pseudo-terminal (tests/lib/ptydrive.py) inside
  -- the namespace; returns the driver's document {output, status}.
  local function on_terminal(steps, args)
    local parts = {}
    for i, a in ipairs(args) do
      parts[i] = testenv.quote(a)
    end
    local r = testenv.sh(("python3 %s/tests/lib/ptydrive.py %s -- %s"):format(testenv.source_dir,
      testenv.quote(dkjson.encode(steps)), testenv.in_netns(netns(), testenv.quote(testenv.bin) .. " "
        .. table.concat(parts, " "))))
    assert.equal(0, r.code, r.stderr)
    return dkjson.decode(r.stdout)
  end

  it("on a terminal: progress names each target still waited for", function()
    local doc = on_terminal({ { expect = "next attempt in" }, { sleep = 1.2 } },
      { "waitfor", "127.0.0.1:7084", "127.0.0.1:7085", "--timeout", "1" })
    assert.equal(1, doc.status, doc.output)
    assert.matches("waiting for 127%.0%.0%.1:7084: refused, 127%.0%.0%.1:7085: refused, [%d.]+ s elapsed",
      doc.output)
  end)

  it("on a terminal: Ctrl-C typed there is the command's to handle, not killed under it", function()
    listen_later(0, "TCP4-LISTEN:7086,bind=127.0.0.1,reuseaddr,fork")
    local dir = testenv.tmpdir()
    local command = ("trap 'echo int >> %s/got' INT; echo READY; while [ ! -s %s/got ]; do sleep 0.05; done; "
      .. "echo HANDLED; exit 42"):format(dir, dir)
    local doc = on_terminal({ { expect = "READY" }, { send = "\3" }, { expect = "HANDLED" }, { sleep = 0.3 } },
      { "waitfor", "127.0.0.1:7086", "--timeout", "10", "--", "sh", "-c", command })
    assert.equal(42, doc.status, doc.output)
    assert.equal("int\n", testenv.read_file(dir .. "/got"))
  end)
end)
