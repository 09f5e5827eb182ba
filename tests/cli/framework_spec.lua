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
