-- --format nagios, junit, tap and prometheus: each checked by the tool that
-- reads it (xmllint against tests/fixtures/junit.xsd, prove's TAP parser,
-- promtool check metrics), for a fixture run whose text holds what each
-- format must escape, and for diagnose in a private network namespace.
local testenv = require "testenv"

after_each(testenv.cleanup)

local fixture = testenv.source_dir .. "/tests/fixtures/recipes/formats_run.lua"

local function run(format, mode, ...)
  return testenv.run { fixture, "--mode=" .. mode, "--format=" .. format, ... }
end

local function saved(text)
  local path = testenv.tmpdir() .. "/out"
  testenv.write_file(path, text)
  return path
end

describe("--format", function()
  it("takes one of the six formats; anything else is one line and exit 2", function()
    local r = testenv.run { "--format=xml", "scan", "127.0.0.1" }
    assert.equal(2, r.code)
    assert.equal("", r.stdout)
    assert.equal("connrecipe: --format takes text, json, nagios, junit, tap or prometheus, got 'xml' "
      .. "(see 'connrecipe --help')\n", r.stderr)
    r = testenv.run { "scan", "--format" }
    assert.equal(2, r.code)
    assert.matches("^connrecipe: %-%-format needs one of text, json", r.stderr)
    r = testenv.run { "--list", "--format", "tap" }
    assert.equal(2, r.code)
    assert.equal("connrecipe: --list prints text or --json, not --format=tap\n", r.stderr)
  end)

  it("the last one wins, --json included", function()
    local r = testenv.run { fixture, "--mode=ok", "--format=nagios", "--json" }
    assert.matches('^{.*"recipe":"formats_run"', r.stdout)
    r = testenv.run { "--json", fixture, "--mode=ok", "--format", "tap" }
    assert.matches("^TAP version 13\n", r.stdout)
  end)
end)

describe("--format nagios", function()
  local line = "^CONNRECIPE (%u+) %- ([^|\n]*) | ([^\n]*)\n"

  it("one status line, the state as the exit status: error CRITICAL, warn WARNING, else OK", function()
    for mode, want in pairs { error = { "CRITICAL", 2 }, warn = { "WARNING", 1 }, ok = { "OK", 0 },
      data = { "OK", 0 }, ["data-fail"] = { "CRITICAL", 2 } } do
      local r = run("nagios", mode)
      local state, text, perf = r.stdout:match(line)
      assert.equal(want[1], state, mode .. ": " .. r.stdout)
      assert.equal(want[2], r.code, mode)
      assert.matches("^time=[%d.]+s;;;0 errors=%d+;;;0 warnings=%d+;;;0", perf)
      assert.is_nil(text:find("|", 1, true))
    end
  end)

  it("the text is the verdict's summary on one line, the other findings follow as long output", function()
    local r = run("nagios", "error")
    local _, text, perf = r.stdout:match(line)
    assert.matches("^it is broken a \"quote\" <tag> & / pipe", text)
    assert.is_nil(text:find("[%c]"))
    assert.matches("errors=2;;;0 warnings=1;;;0", perf)
    assert.matches("\n%[warn%] warned: a warning", r.stdout)
    assert.matches("\n  fix: do this then that\n", r.stdout)
  end)

  it("a recipe's data gives the performance data", function()
    local r = run("nagios", "data")
    local _, text, perf = r.stdout:match(line)
    assert.equal("3 items, up: true", text)
    assert.matches(" items=3;;; seconds_waited=0.5;;; up=1;;;$", perf)
  end)

  it("UNKNOWN, exit 3, for a recipe that fails, bad usage and a run cut short", function()
    local cases = {
      run("nagios", "fail"),
      testenv.run { fixture, "--format", "nagios", "--bogus" },
      testenv.run { "--format=nagios", "--no-such-option", "diagnose" },
      testenv.run { "--format=nagios", "no-such-recipe" },
      testenv.run { "--format=nagios", "waitfor", "unix:/nonexistent/formats.sock", "--timeout=60",
        "--deadline=0.3" },
    }
    for _, r in ipairs(cases) do
      assert.equal(3, r.code, r.stdout .. r.stderr)
      assert.matches("^CONNRECIPE UNKNOWN %- [^\n]+\n$", r.stdout)
      assert.matches("^connrecipe: ", r.stderr) -- and the reason on stderr, as without --format
    end
    assert.matches("cannot go on", cases[1].stdout)
    assert.matches("unknown option '%-%-no%-such%-option'", cases[3].stdout)
  end)
end)

describe("--format junit", function()
  local schema = testenv.source_dir .. "/tests/fixtures/junit.xsd"

  local function validate(xml)
    if not testenv.have("xmllint") then
      return pending("xmllint (libxml2-utils) not installed")
    end
    local r = testenv.sh(("xmllint --noout --schema %s %s"):format(testenv.quote(schema), saved(xml)))
    assert.equal(0, r.code, r.stderr .. xml)
  end

  -- {tests, failures, errors} as the document says, and as its testcases are
  local function counts(xml)
    local said = { xml:match('<testsuite [^>]*tests="(%d+)" failures="(%d+)" errors="(%d+)"') }
    local _, tests = xml:gsub("<testcase ", "")
    local _, failures = xml:gsub("<failure ", "")
    local _, errors = xml:gsub("<error ", "")
    return { tonumber(said[1]), tonumber(said[2]), tonumber(said[3]) }, { tests, failures, errors }
  end

  it("valid against the schema; a testcase per check, a failure per error finding", function()
    local r = run("junit", "error")
    assert.equal(1, r.code, r.stderr)
    validate(r.stdout)
    local said, found = counts(r.stdout)
    assert.same(found, said)
    assert.same({ 3 + 4, 2, 1 }, found) -- 3 checks and 4 findings; 2 error findings; the check that raised
    assert.matches('<testcase classname="connrecipe.formats_run.checks" name="first step"', r.stdout)
    assert.matches('<failure type="broken" message="it is broken a &quot;quote&quot; &lt;tag&gt; &amp;', r.stdout)
    assert.matches('<system%-out>%[warn%] a warning', r.stdout)
  end)

  it("a run of data: its result is a testcase, failed when the exit status is not 0", function()
    for mode, failures in pairs { data = 0, ["data-fail"] = 1 } do
      local r = run("junit", mode)
      validate(r.stdout)
      assert.matches('name="result"', r.stdout)
      local _, found = counts(r.stdout)
      assert.same({ 4, failures, 1 }, found)
    end
  end)

  it("a run with no finding: its result is a testcase (a suite is never empty)", function()
    local r = run("junit", "nothing")
    assert.equal(0, r.code, r.stderr)
    validate(r.stdout)
    assert.matches('<testcase classname="connrecipe.formats_run" name="result" time="[%d.]+">\n'
      .. '      <system%-out>no findings</system%-out>', r.stdout)
    local _, found = counts(r.stdout)
    assert.same({ 4, 0, 1 }, found)
  end)

  it("a recipe that fails is one testcase with an error", function()
    local r = run("junit", "fail")
    assert.equal(1, r.code)
    validate(r.stdout)
    local _, found = counts(r.stdout)
    assert.same({ 1, 0, 1 }, found)
    assert.matches('<error type="recipe%-failed" message="cannot go on', r.stdout)
  end)
end)

describe("--format tap", function()
  -- prove's own parser (TAP::Parser, YAML blocks included) over the output
  local function prove(tap)
    return testenv.sh("prove -v -e cat " .. saved(tap) .. " 2>&1")
  end

  it("TAP version 13 with a plan, read by prove without a parse error", function()
    if not testenv.have("prove") then
      return pending("prove (perl) not installed")
    end
    local r = run("tap", "error")
    assert.equal(1, r.code)
    assert.matches("^TAP version 13\n1%.%.7\n", r.stdout)
    local p = prove(r.stdout)
    assert.is_nil(p.stdout:find("Parse errors", 1, true), p.stdout)
    assert.matches("Failed 3/7 subtests", p.stdout) -- the check that raised, the two error findings
    assert.matches("\nnot ok 3 %- check: a step that raises a \"quote\" <tag> & | pipe \\# hash", r.stdout)
    r = run("tap", "warn")
    p = prove(r.stdout)
    assert.is_nil(p.stdout:find("Parse errors", 1, true), p.stdout)
    assert.matches("Failed 1/5 subtests", p.stdout)
  end)

  it("a run with no finding has a result point: never an empty plan", function()
    local r = run("tap", "nothing")
    assert.matches("^TAP version 13\n1%.%.4\n", r.stdout)
    assert.matches("\nok 4 %- result: no findings\n", r.stdout)
  end)

  it("a recipe that fails bails out", function()
    local r = run("tap", "fail")
    assert.matches("^TAP version 13\nBail out! formats_run: cannot go on", r.stdout)
  end)
end)

describe("--format prometheus", function()
  local function promtool(text)
    if not testenv.have("promtool") then
      return nil -- checked by the careful reading below alone
    end
    local r = testenv.sh("promtool check metrics < " .. saved(text))
    assert.equal(0, r.code, r.stdout .. r.stderr .. text)
  end

  -- every sample line, by its name and labels; each series once
  local function samples(text)
    local out = {}
    for l in text:gmatch("[^\n]+") do
      if not l:match("^#") then
        local series, value = l:match("^([%w_]+{.*}) (%S+)$")
        assert(series, "not a sample line: " .. l)
        assert.is_nil(out[series], "a series twice: " .. series)
        out[series] = tonumber(value) or value
      end
    end
    return out
  end

  it("passes promtool check metrics (when Debian's prometheus is installed), each series once", function()
    for _, mode in ipairs { "error", "warn", "ok", "data", "fail" } do
      local r = run("prometheus", mode)
      promtool(r.stdout)
      samples(r.stdout)
    end
  end)

  it("the verdict, each finding, each check's duration and success, the data's numbers", function()
    local s = samples(run("prometheus", "error").stdout)
    assert.equal(1, s['connrecipe_run_success{recipe="formats_run"}'])
    assert.equal(1, s['connrecipe_exit_status{recipe="formats_run"}'])
    assert.equal(3, s['connrecipe_verdict_severity{recipe="formats_run"}'])
    assert.equal(1, s['connrecipe_verdict{recipe="formats_run",id="broken",severity="error"}'])
    assert.equal(2, s['connrecipe_finding{recipe="formats_run",id="broken",severity="error"}'])
    assert.equal(1, s['connrecipe_finding{recipe="formats_run",id="warned",severity="warn"}'])
    assert.is_number(s['connrecipe_check_duration_seconds{recipe="formats_run",check="first step #2"}'])
    assert.equal(0, s['connrecipe_check_success{recipe="formats_run",check="a step that raises a \\"quote\\" '
      .. '<tag> & | pipe # hash: colon \\\\ back\\\\ttab\\\\x01ctl \\\\xffbad"}']) -- cr.text.escape, then escaped
    s = samples(run("prometheus", "data").stdout)
    assert.equal(3, s['connrecipe_formats_run_items{recipe="formats_run"}'])
    assert.equal(1, s['connrecipe_formats_run_up{recipe="formats_run"}'])
    assert.equal(0, s['connrecipe_verdict_severity{recipe="formats_run"}'])
    s = samples(run("prometheus", "fail").stdout)
    assert.equal(0, s['connrecipe_run_success{recipe="formats_run"}'])
  end)
end)

describe("diagnose in the formats", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { prepare = function(ns)
    testenv.tcp_listen(ns, 8088)
  end })

  local function diagnose(target, format)
    return testenv.run_in_netns(netns(), { "diagnose", target, "--format=" .. format, "--timeout=1" })
  end

  it("nagios: CRITICAL for nothing listening, OK for a listener", function()
    local r = diagnose("127.0.0.1:8089", "nagios")
    assert.equal(2, r.code, r.stderr)
    assert.matches("^CONNRECIPE CRITICAL %- nothing listens on port 8089", r.stdout)
    r = diagnose("127.0.0.1:8088", "nagios")
    assert.equal(0, r.code, r.stderr)
    assert.matches("^CONNRECIPE OK %- ", r.stdout)
  end)

  it("junit, tap and prometheus read as their tools read them", function()
    local r = diagnose("127.0.0.1:8089", "junit")
    local v = testenv.sh(("xmllint --noout --schema %s %s"):format(
      testenv.quote(testenv.source_dir .. "/tests/fixtures/junit.xsd"), saved(r.stdout)))
    assert.equal(0, v.code, v.stderr)
    assert.matches('<failure type="no%-listener"', r.stdout)
    r = diagnose("127.0.0.1:8089", "tap")
    assert.matches("\nnot ok %d+ %- no%-listener: nothing listens", r.stdout)
    r = diagnose("127.0.0.1:8089", "prometheus")
    assert.matches('\nconnrecipe_verdict{recipe="diagnose",target="127.0.0.1:8089",id="no%-listener",'
      .. 'severity="error"} 1\n', r.stdout)
    if testenv.have("promtool") then
      v = testenv.sh("promtool check metrics < " .. saved(r.stdout))
      assert.equal(0, v.code, v.stdout .. v.stderr)
    end
  end)
end)
