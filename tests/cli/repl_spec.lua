-- The interactive REPL, driven through a pseudo-terminal (tests/lib/ptydrive.py).
local testenv = require "testenv"
local json = require "dkjson"

local function repl(steps, opts)
  local env = "XDG_STATE_HOME=" .. ((opts and opts.state) or testenv.tmpdir())
  local r = testenv.sh(("%s %s/tests/lib/ptydrive.py %s -- env %s %s"):format(
    "python3", testenv.source_dir, testenv.quote(json.encode(steps)), env, testenv.quote(testenv.bin)))
  assert.equal(0, r.code, r.stderr)
  local doc = json.decode(r.stdout)
  assert.is_nil(doc.failed, "a step timed out; screen so far:\n" .. doc.output)
  return doc
end

local function line(text)
  return { send = text .. "\r" }
end

-- patterns are Python regular expressions (ptydrive.py matches them)
local function expect(pattern, timeout)
  return { expect = pattern, timeout = timeout }
end

local PROMPT = "cr> "

after_each(testenv.cleanup)

describe("the REPL", function()
  it("prints expression results, runs multi-line statements, and Ctrl-D exits 0", function()
    local doc = repl {
      expect(PROMPT),
      line("1 + 41"), expect("42"),
      line("=cr.version"), expect('"\\d+\\.\\d+\\.\\d+"'),
      line("for i = 1, 3 do"), expect("cr>> "),
      line("io.write(i, ';')"), expect("cr>> "),
      line("end"), expect("1;2;3;"), expect(PROMPT),
      { send = "\4" },
    }
    assert.equal(0, doc.status)
  end)

  it("prints an error and goes on", function()
    local doc = repl {
      expect(PROMPT),
      line("error('broken')"), expect("stdin:1: broken"),
      line("local x = 1 +"), expect("cr>> "), line("2"), expect(PROMPT),
      line("'still ' .. 'here'"), expect('"still here"'),
      { send = "\4" },
    }
    assert.equal(0, doc.status)
  end)

  it("runs async calls inline and background tasks while the prompt waits", function()
    local doc = repl {
      expect(PROMPT),
      line("cr.exec{'echo', 'from', 'exec'}.stdout"), expect('"from exec\\\\n"'),
      line("cr.spawn(function() cr.sleep(0.3) print('background done') end)"), expect("task \\d+"),
      expect(PROMPT), expect("background done", 5),
      { send = "\4" },
    }
    assert.equal(0, doc.status)
  end)

  it("Ctrl-C cancels a running line within a second and the prompt returns", function()
    local doc = repl {
      expect(PROMPT),
      line("cr.sleep(30)"), { sleep = 0.3 },
      { send = "\3" }, expect("interrupted", 3), expect(PROMPT, 3),
      line("'alive'"), expect('"alive"'),
      { send = "\4" },
    }
    assert.is_true(doc.elapsed["3"] < 1.5, "Ctrl-C took " .. tostring(doc.elapsed["3"]) .. " s")
    assert.equal(0, doc.status)
  end)

  it("Ctrl-C interrupts a CPU-bound line; at the prompt it clears the line", function()
    local doc = repl {
      expect(PROMPT),
      line("while true do end"), { sleep = 0.3 },
      { send = "\3" }, expect("interrupted", 3), expect(PROMPT, 3),
      { send = "half typed" }, { send = "\3" }, expect("\\^C"), expect(PROMPT),
      line("'clean'"), expect('"clean"'),
      { send = "\4" },
    }
    assert.equal(0, doc.status)
  end)

  it("a key typed right after Ctrl-C at the prompt goes to the new line", function()
    -- the keys arrive as fast as a paste, in one write or three; before the
    -- fix, most rounds lost the "7" into the line being cleared
    local steps = { expect(PROMPT) }
    for round = 1, 8 do
      if round % 2 == 0 then
        table.insert(steps, { send = "half typed\0037" })
      else
        table.insert(steps, { send = "half typed" })
        table.insert(steps, { send = "\3" })
        table.insert(steps, { send = "7" })
      end
      table.insert(steps, expect("\\^C\r\n"))
      table.insert(steps, { send = "+1\r" })
      table.insert(steps, expect("\r\n8\r\n", 2))
      table.insert(steps, expect(PROMPT))
    end
    table.insert(steps, { send = "\4" })
    local doc = repl(steps)
    assert.equal(0, doc.status)
  end)

  it("a second Ctrl-C ends a line that catches the first in a loop", function()
    local doc = repl {
      expect(PROMPT),
      line("while true do pcall(function() while true do end end) end"), { sleep = 0.3 },
      { send = "\3" }, { sleep = 0.5 }, { send = "\3" }, { sleep = 0.5 },
    }
    assert.equal(-2, doc.status) -- killed by SIGINT, as an uncaught Ctrl-C does
  end)

  it("--deadline ends the session with exit 3", function()
    local r = testenv.sh(("python3 %s/tests/lib/ptydrive.py %s -- env XDG_STATE_HOME=%s %s -i --deadline 0.5"):format(
      testenv.source_dir, testenv.quote(json.encode { expect(PROMPT), { sleep = 1.5 } }), testenv.tmpdir(),
      testenv.quote(testenv.bin)))
    local doc = json.decode(r.stdout)
    assert.equal(3, doc.status)
    assert.matches("deadline expired", doc.output)
  end)

  -- libedit is loaded when the REPL starts (src/cli/edit_lib.c); hidden in a
  -- mount namespace, the REPL says why it cannot start, in one line
  it("without libedit says so in one line and exits 3; a recipe still runs", function()
    local why = testenv.needs_root()
    if why then
      return pending(why)
    end
    local lib = testenv.sh("readlink -f \"$(ldconfig -p | awk '/libedit\\.so\\.2 /{print $NF; exit}')\"").stdout
    lib = lib:match("^(/%S+)\n$")
    assert.is_truthy(lib, "libedit.so.2 not found by ldconfig")
    local hide = "mount --bind /dev/null " .. testenv.quote(lib) .. " && exec "
    local inside = hide .. testenv.quote(testenv.bin) .. " -i"
    local r = testenv.sh(("python3 %s/tests/lib/ptydrive.py %s -- unshare -m sh -c %s"):format(testenv.source_dir,
      testenv.quote(json.encode { expect("needs libedit"), { sleep = 0.5 } }), testenv.quote(inside)))
    local doc = json.decode(r.stdout)
    assert.equal(3, doc.status, doc.output)
    assert.matches("connrecipe: the REPL needs libedit %(apt%-get install libedit2%): [^\n]*libedit", doc.output)
    assert.is_nil(doc.output:find(PROMPT, 1, true))
    local recipe = hide .. testenv.quote(testenv.bin) .. " -e 'print(6*7)'"
    local ran = testenv.sh("unshare -m sh -c " .. testenv.quote(recipe))
    assert.equal("42\n", ran.stdout, ran.stderr)
  end)

  it("completes globals and fields with Tab", function()
    local doc = repl {
      expect(PROMPT),
      { send = "cr.tim\t" }, expect("eout"), { send = "\r" }, expect("function: "), expect(PROMPT),
      { send = "\4" },
    }
    assert.equal(0, doc.status)
  end)

  it("completes cr.prob to cr.probe, and lists cr.probe's fields", function()
    local doc = repl {
      expect(PROMPT),
      -- "cr.pro" is cr.probe or cr.process: the unique prefix completes
      { send = "cr.prob\t" }, { sleep = 0.2 }, { send = "\r" }, expect("tcp = function"), expect(PROMPT),
      { send = "cr.probe.\t\t" }, expect("scan"), expect("unix"), { sleep = 0.2 },
      { send = "\3" }, expect("\\^C"), expect(PROMPT), { sleep = 0.2 },
      { send = "\4" },
    }
    assert.equal(0, doc.status)
  end)

  it("probes a listener the test opened, inline", function()
    -- ports reserved for this run: nothing else listens there, another run does not pick them
    local port = testenv.port_block() + 1
    local server = testenv.background(("timeout 30 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork SYSTEM:true")
      :format(port))
    assert(testenv.wait_for(function()
      return testenv.sh(("ss -Hltn 'sport = :%d'"):format(port)).stdout:match("%S") ~= nil
    end))
    repl {
      expect(PROMPT),
      line(("cr.probe.tcp('127.0.0.1', %d).status"):format(port)), expect('"open"'),
      line(("cr.probe.tcp('127.0.0.1', %d).results[1].errno"):format(port + 1)), expect('"ECONNREFUSED"'),
      { send = "\4" },
    }
    testenv.stop(server) -- by its pid: another spec's socat with this command line is not ours
  end)

  it("help() prints a function's signature and description from the docs", function()
    repl {
      expect(PROMPT),
      line("help(cr.sleep)"), expect("cr\\.sleep\\(seconds\\)"), expect("Suspends the current task"),
      line("help()"), expect("\\n  exec +Runs a program"), expect(PROMPT),
      { send = "\4" },
    }
  end)

  it("keeps history across sessions", function()
    local state = testenv.tmpdir()
    repl({ expect(PROMPT), line("answer = 6 * 7"), expect(PROMPT), { send = "\4" } }, { state = state })
    local saved = testenv.read_file(state .. "/connrecipe/history"):gsub("\\(%d%d%d)", function(octal)
      return string.char(tonumber(octal, 8)) -- libedit escapes spaces as \040
    end)
    assert.matches("answer = 6 %* 7", saved)
    repl({
      expect(PROMPT), { send = "\27[A" }, expect("answer = 6 \\* 7"), { send = "\r" }, expect(PROMPT),
      line("answer"), expect("42"), { send = "\4" },
    }, { state = state })
  end)

  it("pretty-prints nested tables with sorted keys and marks cycles", function()
    repl {
      expect(PROMPT),
      line("t = {3, 2, z = 1, a = {b = 2}}; t.me = t"), expect(PROMPT),
      line("t"), expect("a = \\{ b = 2 \\},\\s+me = <cycle"), expect("z = 1"),
      { send = "\4" },
    }
  end)
end)

describe("the REPL's background tasks", function()
  after_each(testenv.cleanup)

  it("reports a background task that failed while the prompt waited", function()
    local doc = repl {
      expect(PROMPT),
      line("cr.spawn(function() cr.sleep(0.2) error('bg broke') end)"), expect("task \\d+"),
      expect("task \\d+ failed and nobody joined it: stdin:1: bg broke", 5),
      line("'after'"), expect('"after"'),
      { send = "\4" },
    }
    assert.equal(0, doc.status)
  end)
end)
