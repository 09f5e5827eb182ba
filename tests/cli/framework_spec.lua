-- The recipe framework through the executable: params, --help, findings,
-- verdicts, the text and JSON reports and their exit codes.
local testenv = require "testenv"
local json = require "dkjson"
local demo = testenv.source_dir .. "/tests/fixtures/recipes/framework_demo.lua"

local function run(...)
  return testenv.run({ demo, ... })
end

describe("recipe params", function()
  it("parses positionals, --key value, --key=value, flags, lists and the rest after --", function()
    local r = run("[::1]:8080", "--timeout", "0.5", "--count=3", "--mode=slow", "--tags", "a,b",
      "--tags=c", "--json", "--", "echo", "--not-an-option")
    assert.equal(0, r.code, r.stderr)
    local doc = json.decode(r.stdout)
    local ev = doc.findings[2].evidence
    if doc.findings[1].id == "echo" then
      ev = doc.findings[1].evidence
    end
    assert.equal("[::1]:8080", ev.target)
    assert.equal(0.5, ev.timeout)
    assert.equal(3, ev.count)
    assert.equal("slow", ev.mode)
    assert.same({ "a", "b", "c" }, ev.tags)
    assert.same({ "echo", "--not-an-option" }, ev.command)
    assert.equal("slept", ev.check)
  end)

  local bad = {
    { { "localhost:99999" },
      "connrecipe: framework_demo: TARGET: port 99999 out of range 1%-65535 in 'localhost:99999'" },
    { {}, "connrecipe: framework_demo: missing TARGET %(see 'connrecipe framework_demo %-%-help'%)" },
    { { "h:1", "--timeout", "soon" }, "framework_demo: %-%-timeout: expected a number, got 'soon'" },
    { { "h:1", "--count=11" }, "%-%-count: must be at most 10, got 11" },
    { { "h:1", "--count=1.5" }, "%-%-count: expected an integer, got '1.5'" },
    { { "h:1", "--port", "70000" }, "%-%-port: expected a port 1%-65535, got '70000'" },
    { { "h:1", "--mode", "medium" }, "%-%-mode: expected one of fast, slow, got 'medium'" },
    { { "h:1", "--strict=maybe" }, "%-%-strict: expected true or false, got 'maybe'" },
    { { "h:1", "--bogus" }, "unknown option '%-%-bogus'" },
    { { "h:1", "-x" }, "unknown option '%-x'" },
    { { "h:1", "extra" }, "unexpected argument 'extra'" },
    { { "h:1", "--" }, "missing COMMAND after '%-%-'" },
    { { "h:1", "--timeout" }, "%-%-timeout needs a value %(S%)" },
    { { "h:1", "--timeout", "1e999" }, "%-%-timeout: expected a number, got '1e999'" },
    { { "h:1", "--count=1e300" }, "%-%-count: expected an integer, got '1e300'" },
    { { "h:1", "--mode=" }, "%-%-mode: expected a value, got an empty string" },
    { { "unix:/" .. ("a"):rep(120) }, "socket path longer than 107 bytes" },
  }
  for _, case in ipairs(bad) do
    it("rejects " .. table.concat(case[1], " ") .. " with one line, exit 2", function()
      local r = run(table.unpack(case[1]))
      assert.equal(2, r.code)
      assert.matches(case[2], r.stderr)
      assert.equal(1, select(2, r.stderr:gsub("\n", "")), "one line")
      assert.equal("", r.stdout)
    end)
  end

  it("--help is generated from the declaration, exit 0", function()
    local r = run("--help")
    assert.equal(0, r.code)
    assert.matches("usage: connrecipe framework_demo TARGET %[%-%-timeout S%]", r.stdout)
    assert.matches("%-%-timeout S%s+timeout in seconds %(default 2%)", r.stdout)
    assert.matches("%-%-strict%s+treat warnings as errors", r.stdout)
    assert.matches("%-%- COMMAND%.%.%.%s+command to run", r.stdout)
  end)
end)

describe("-- ends the options", function()
  local positionals = testenv.source_dir .. "/tests/fixtures/recipes/positionals.lua"
  local ok_cases = {
    { { "--", "--flag" }, "first=--flag second=nil level=nil flag=nil" },
    { { "--", "-h" }, "first=-h second=nil level=nil flag=nil" },
    { { "--", "--help" }, "first=--help second=nil level=nil flag=nil" },
    { { "--", "-x", "--level=3" }, "first=-x second=--level=3 level=nil flag=nil" },
    { { "--level", "2", "--", "-5" }, "first=-5 second=nil level=2 flag=nil" },
    { { "--", "--" }, "first=-- second=nil level=nil flag=nil" },
    { { "a", "--", "--flag" }, "first=a second=--flag level=nil flag=nil" },
    { { "--flag", "--", "a" }, "first=a second=nil level=nil flag=true" },
    { { "a", "--flag", "--" }, "first=a second=nil level=nil flag=true" },
    { { "--", "--json" }, "first=--json second=nil level=nil flag=nil" }, -- not the shared option either
  }
  for _, case in ipairs(ok_cases) do
    it("after --, every argument is positional: " .. table.concat(case[1], " "), function()
      local r = testenv.run { positionals, table.unpack(case[1]) }
      assert.equal(0, r.code, r.stderr)
      assert.equal(case[2] .. "\n", r.stdout)
    end)
  end

  local bad = {
    { { "a", "--", "b", "c" }, "unexpected argument 'c'" },
    { { "--", "a", "b", "--flag" }, "unexpected argument '%-%-flag'" },
    { { "a", "b", "--", "-x" }, "unexpected argument '%-x'" },
    { { "--" }, "missing FIRST" },
  }
  for _, case in ipairs(bad) do
    it("without a rest parameter, an extra argument after -- is unexpected: " .. table.concat(case[1], " "),
      function()
        local r = testenv.run { positionals, table.unpack(case[1]) }
        assert.equal(2, r.code)
        assert.matches("^connrecipe: positionals: " .. case[2] .. " %(see 'connrecipe positionals %-%-help'%)\n$",
          r.stderr)
        assert.equal("", r.stdout)
      end)
  end
end)

describe("reports", function()
  it("text: the verdict first, findings by severity, fix lines; exit 0 for warn", function()
    local r = run("localhost:80")
    assert.equal(0, r.code)
    assert.equal("WARN: something mild", r.stdout:match("^[^\n]*"))
    assert.matches("%[warn%] mild: something mild\n%[info%] echo: arguments as parsed", r.stdout)
    assert.not_matches("\27%[", r.stdout, "no colour when not a terminal")
  end)

  it("an error verdict exits 1 and prints the fix", function()
    local r = run("localhost:80", "--strict")
    assert.equal(1, r.code)
    assert.matches("^ERROR: strict mode says no\n", r.stdout)
    assert.matches("  fix: run without %-%-strict\n       or fix the thing\n", r.stdout)
  end)

  it("-q prints the headline alone", function()
    local r = run("localhost:80", "--strict", "-q")
    assert.equal(1, r.code)
    assert.equal("ERROR: strict mode says no\n", r.stdout)
  end)

  it("-v lists every check with its duration and failures", function()
    local r = run("localhost:80", "-v")
    assert.matches("checks:\n  sleep a little%s+[%d.]+ ms  ok\n"
      .. "  a check that fails%s+[%d.]+ ms  FAILED: check exploded", r.stdout)
  end)

  it("--json prints exactly one document with the schema", function()
    local r = run("unix:@sock", "--strict", "--json")
    assert.equal(1, r.code)
    local doc, pos = json.decode(r.stdout)
    assert.is_table(doc)
    assert.equal(#r.stdout, pos - 1 + #r.stdout:sub(pos):match("^%s*"))
    assert.equal(1, doc.schema)
    assert.equal("framework_demo", doc.recipe)
    assert.equal("strict-failure", doc.verdict)
    assert.equal("unix", doc.target.kind)
    assert.equal("@sock", doc.target.path)
    assert.equal("strict-failure", doc.findings[1].id)
    assert.equal("error", doc.findings[1].severity)
    assert.equal("run without --strict\nor fix the thing", doc.findings[1].fix)
    assert.equal(2, #doc.checks)
    assert.is_true(doc.checks[1].ok)
    assert.is_false(doc.checks[2].ok)
    assert.is_number(doc.elapsed_ms)
  end)
end)

describe("a recipe that records no finding", function()
  local no_findings = testenv.source_dir .. "/tests/fixtures/recipes/no_findings.lua"

  local function one_document(stdout)
    local doc, pos, err = json.decode(stdout)
    assert.is_table(doc, "not a JSON document: " .. tostring(err) .. ": " .. stdout)
    assert.equal("", stdout:sub(pos):match("^%s*(.-)$"), "more than one document")
    return doc
  end

  it("--json still prints one document: no findings, no verdict, ok, exit 0", function()
    local r = testenv.run { no_findings, "127.0.0.1:5", "--json" }
    assert.equal(0, r.code, r.stderr)
    local doc = one_document(r.stdout)
    assert.equal(1, doc.schema)
    assert.equal("no_findings", doc.recipe)
    assert.equal("127.0.0.1:5", doc.target.display)
    assert.matches('"findings":%[%]', r.stdout) -- an empty array, not an object
    assert.matches('"verdict":null', r.stdout)
    assert.is_true(doc.ok)
    assert.is_nil(doc.interrupted)
    assert.is_number(doc.elapsed_ms)
  end)

  it("--json lists its checks", function()
    local r = testenv.run { no_findings, "--mode=check", "--json" }
    assert.equal(0, r.code, r.stderr)
    local doc = one_document(r.stdout)
    assert.same({}, doc.findings)
    assert.equal(1, #doc.checks)
    assert.equal("a step", doc.checks[1].name)
    assert.is_true(doc.checks[1].ok)
  end)

  it("--json of one that returned false: ok is false, exit 1", function()
    local r = testenv.run { no_findings, "--mode=false", "--json" }
    assert.equal(1, r.code, r.stderr)
    local doc = one_document(r.stdout)
    assert.is_false(doc.ok)
    assert.same({}, doc.findings)
  end)

  it("one that printed its own document gets no second one", function()
    local r = testenv.run { no_findings, "--mode=own", "--json" }
    assert.equal(0, r.code, r.stderr)
    assert.equal('{"own":true}\n', r.stdout)
    r = testenv.run { no_findings, "--mode=own-status", "--json" }
    assert.equal(0, r.code, r.stderr)
    assert.equal('{"own":0}\n', r.stdout)
  end)

  it("in text, without -v, prints nothing: no news is good news", function()
    for _, mode in ipairs { "none", "check" } do
      local r = testenv.run { no_findings, "--mode=" .. mode }
      assert.equal(0, r.code, r.stderr)
      assert.equal("", r.stdout)
      assert.equal("", r.stderr)
    end
  end)

  it("-v shows the checks that ran, then that there were no findings", function()
    local r = testenv.run { no_findings, "--mode=check", "-v" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("^checks:\n  a step%s+[%d.]+ ms  ok\nelapsed [%d.]+ ms\n\nno findings\n$", r.stdout)
    r = testenv.run { no_findings, "-v" }
    assert.equal(0, r.code, r.stderr)
    assert.matches("^checks: none\nelapsed [%d.]+ ms\n\nno findings\n$", r.stdout)
  end)

  it("-v of one that returned false says so, exit 1", function()
    local r = testenv.run { no_findings, "--mode=false", "-v" }
    assert.equal(1, r.code, r.stderr)
    assert.matches("\nno findings; the recipe reported failure\n$", r.stdout)
  end)

  it("-v adds nothing with -q, nor to the recipe's own output", function()
    local r = testenv.run { no_findings, "--mode=check", "-v", "-q" }
    assert.equal(0, r.code, r.stderr)
    assert.equal("", r.stdout)
    r = testenv.run { no_findings, "--mode=own", "-v" }
    assert.equal(0, r.code, r.stderr)
    assert.equal('{"own":true}\n', r.stdout)
  end)

  it("ok follows the exit status when there are findings too", function()
    assert.is_true(json.decode(run("localhost:80", "--json").stdout).ok)
    assert.is_false(json.decode(run("localhost:80", "--strict", "--json").stdout).ok)
  end)
end)

describe("a recipe that prints its own output and records findings", function()
  local prints = testenv.source_dir .. "/tests/fixtures/recipes/prints_and_finds.lua"

  for _, how in ipairs { "print", "io-write", "stdout-write" } do
    it("under --json (" .. how .. "): its output is the one document, a warning on stderr names the findings",
      function()
        local r = testenv.run { prints, "--how=" .. how, "--json" }
        assert.equal(0, r.code, r.stderr)
        assert.equal('{"own":true}\n', r.stdout)
        assert.matches("^connrecipe: prints_and_finds: the recipe printed to stdout itself under %-%-json, so no "
          .. "document of its 2 findings follows", r.stderr)
      end)
  end

  it("under --json the exit status still follows the verdict", function()
    local r = testenv.run { prints, "--severity=error", "--json" }
    assert.equal(1, r.code, r.stderr)
    assert.equal('{"own":true}\n', r.stdout)
    assert.matches("2 findings", r.stderr)
  end)

  it("in text, the report follows its output", function()
    local r = testenv.run { prints, "--severity=error" }
    assert.equal(1, r.code, r.stderr)
    assert.equal('{"own":true}\nERROR: the second finding\n\n[error] second: the second finding\n'
      .. "[ok] first: the first finding\n", r.stdout)
    assert.equal("", r.stderr)
  end)
end)

describe("evidence arrays with nil holes", function()
  local holes = testenv.source_dir .. "/tests/fixtures/recipes/evidence_holes.lua"
  -- what each finding shows: its items in order (nils left out), then its keys
  local expected = {
    hole = { 1, 3 },
    leading = { "c" },
    idiom = { "listener: nginx", "since 5 s" },
    sparse = { "b", "j" },
    mixed = { "a", "c", key = "v" },
    nested = { "[1,null,3]" }, -- a nested table is JSON in the text report too
  }

  it("show the same items in the text and the JSON report", function()
    local text = testenv.run { holes }
    assert.equal(0, text.code, text.stderr)
    local shown, current = {}, nil
    for line in text.stdout:gmatch("[^\n]+") do
      local id = line:match("^%[info%] ([%w-]+):")
      if id then
        current = {}
        shown[id] = current
      elseif current and line:match("^    %- ") then
        local item = line:sub(7)
        current[#current + 1] = math.tointeger(tonumber(item)) or item
      elseif current and line:match("^    %w+: ") then
        local k, v = line:match("^    (%w+): (.*)$")
        current[k] = v
      end
    end
    assert.same(expected, shown)

    local r = testenv.run { holes, "--json" }
    assert.equal(0, r.code, r.stderr)
    assert.matches('"evidence":%[1,3%]', r.stdout) -- an array, no nulls
    local doc = json.decode(r.stdout)
    local from_json = {}
    for _, f in ipairs(doc.findings) do
      local ev = f.evidence
      if f.id == "mixed" then -- lines and keys: a JSON object, the lines under "1", "2"
        ev = { ev["1"], ev["2"], key = ev.key }
      elseif f.id == "nested" then
        ev = { json.encode(ev[1]) }
      end
      from_json[f.id] = ev
    end
    assert.same(expected, from_json)
  end)
end)

describe("a run cut short", function()
  local cut_short = testenv.source_dir .. "/tests/fixtures/recipes/cut_short.lua"

  -- exactly one JSON document on stdout (trailing whitespace allowed)
  local function one_document(stdout)
    local doc, pos, err = json.decode(stdout)
    assert.is_table(doc, "not a JSON document: " .. tostring(err) .. ": " .. stdout)
    assert.equal("", stdout:sub(pos):match("^%s*(.-)$"), "more than one document")
    return doc
  end

  local function deadline(...)
    return testenv.run { "--deadline", "0.5", "--json", cut_short, ... }
  end

  it("by --deadline still prints the --json document: findings and checks so far, exit 3", function()
    local r = deadline("127.0.0.1:5")
    assert.equal(3, r.code)
    assert.equal("waiting\nconnrecipe: deadline of 0.5 s expired; the output above is partial\n", r.stderr)
    local doc = one_document(r.stdout)
    assert.equal("deadline", doc.interrupted)
    assert.equal(1, doc.schema)
    assert.equal("cut_short", doc.recipe)
    assert.equal("127.0.0.1:5", doc.target.display)
    assert.matches('"verdict":null', r.stdout) -- no conclusion from a run cut short
    assert.equal(1, #doc.findings)
    assert.equal("early", doc.findings[1].id)
    assert.same({ "line 1" }, doc.findings[1].evidence)
    assert.equal(2, #doc.checks)
    assert.equal("quick step", doc.checks[1].name)
    assert.is_true(doc.checks[1].ok)
    assert.equal("slow step", doc.checks[2].name) -- the step the deadline cut
    assert.is_false(doc.checks[2].ok)
    assert.equal("deadline expired", doc.checks[2].error)
    assert.is_true(doc.checks[2].ms >= 300)
    assert.is_true(doc.elapsed_ms >= 450)
  end)

  it("in a CPU loop inside a check: the check is cut, not failed, and the recipe does not go on", function()
    local r = deadline("--mode=spin")
    assert.equal(3, r.code)
    local doc = one_document(r.stdout)
    assert.equal("deadline", doc.interrupted)
    assert.matches('"target":null', r.stdout)
    assert.equal(1, #doc.findings, "no finding recorded after the cut")
    assert.equal("early", doc.findings[1].id)
    assert.equal("slow step", doc.checks[2].name)
    assert.equal("deadline expired", doc.checks[2].error)
  end)

  it("before any finding: an empty document that says so", function()
    local r = deadline("--mode=early")
    assert.equal(3, r.code)
    local doc = one_document(r.stdout)
    assert.equal("deadline", doc.interrupted)
    assert.equal("cut_short", doc.recipe)
    assert.same({}, doc.findings)
    assert.same({}, doc.checks)
  end)

  it("after the recipe printed its own document: no second one", function()
    local r = deadline("--mode=own")
    assert.equal(3, r.code)
    assert.equal('{"own":true}\n', r.stdout)
  end)

  it("by --deadline prints the text report too: findings and checks so far, then no verdict, exit 3", function()
    local r = testenv.run { "--deadline", "0.5", cut_short, "127.0.0.1:5" }
    assert.equal(3, r.code)
    assert.equal("waiting\nconnrecipe: deadline of 0.5 s expired; the output above is partial\n", r.stderr)
    local lines = {}
    for l in r.stdout:gmatch("([^\n]*)\n") do
      lines[#lines + 1] = l
    end
    assert.equal("[warn] early: found before the wait", lines[1], r.stdout) -- no headline: no verdict
    assert.equal("    - line 1", lines[2])
    assert.equal("", lines[3])
    assert.equal("checks:", lines[4]) -- listed without -v: which step was cut is the clue
    assert.matches("^  quick step%s+[%d.]+ ms  ok$", lines[5])
    assert.matches("^  slow step%s+[%d.]+ ms  unfinished: deadline expired$", lines[6])
    assert.matches("^elapsed [%d.]+ ms$", lines[7])
    assert.equal("", lines[8])
    assert.equal("CUT SHORT: the deadline expired before the recipe finished; no verdict", lines[9])
    assert.equal(9, #lines)
    assert.not_matches("never reached", r.stdout)
  end)

  it("in text, -q prints the cut-short line alone; before any finding, it is all there is", function()
    local r = testenv.run { "--deadline", "0.5", "-q", cut_short }
    assert.equal(3, r.code)
    assert.equal("CUT SHORT: the deadline expired before the recipe finished; no verdict\n", r.stdout)
    r = testenv.run { "--deadline", "0.5", cut_short, "--mode=early" }
    assert.equal(3, r.code)
    assert.equal("CUT SHORT: the deadline expired before the recipe finished; no verdict\n", r.stdout)
  end)

  it("in text, after the recipe printed its own output: nothing added", function()
    local r = testenv.run { "--deadline", "0.5", cut_short, "--mode=own" }
    assert.equal(3, r.code)
    assert.equal('{"own":true}\n', r.stdout)
  end)

  it("after a child on our terminal (cr.exec inherit) may have printed: nothing added, text or --json", function()
    for _, json_flag in ipairs { "--quiet", "--json" } do
      local r = testenv.run { "--deadline", "0.5", json_flag, cut_short, "--mode=inherit" }
      assert.equal(3, r.code)
      assert.equal("from the child\n", r.stdout)
    end
  end)

  it("by Ctrl-C prints the text report too, exit 130", function()
    local dir = testenv.tmpdir()
    local r = testenv.sh(("%s %s >%s/out 2>%s/err & pid=$!; "
      .. "for i in $(seq 200); do grep -q waiting %s/err && break; sleep 0.05; done; "
      .. "kill -INT $pid; wait $pid; echo $?"):format(
      testenv.quote(testenv.bin), testenv.quote(cut_short), dir, dir, dir))
    assert.equal("130\n", r.stdout)
    assert.equal("waiting\nconnrecipe: interrupted\n", testenv.read_file(dir .. "/err"))
    local out = testenv.read_file(dir .. "/out")
    assert.matches("^%[warn%] early: found before the wait\n", out)
    assert.matches("\n  slow step%s+[%d.]+ ms  unfinished: interrupted\n", out)
    assert.matches("\n\nCUT SHORT: interrupted %(Ctrl%-C%) before the recipe finished; no verdict\n$", out)
  end)

  it("by Ctrl-C prints the document too, exit 130", function()
    local dir = testenv.tmpdir()
    local r = testenv.sh(("%s --json %s >%s/out 2>%s/err & pid=$!; "
      .. "for i in $(seq 200); do grep -q waiting %s/err && break; sleep 0.05; done; "
      .. "kill -INT $pid; wait $pid; echo $?"):format(
      testenv.quote(testenv.bin), testenv.quote(cut_short), dir, dir, dir))
    assert.equal("130\n", r.stdout)
    assert.matches("connrecipe: interrupted\n$", testenv.read_file(dir .. "/err"))
    local doc = one_document(testenv.read_file(dir .. "/out"))
    assert.equal("sigint", doc.interrupted)
    assert.equal("early", doc.findings[1].id)
    assert.equal("interrupted", doc.checks[2].error)
  end)
end)
