-- The output model: run returns data (or nil and a message, or a status) and
-- records findings; the framework renders them as text (the declaration's
-- `text`, else the REPL's printer) or as the one --json document.
local testenv = require "testenv"
local json = require "dkjson"

after_each(testenv.cleanup)

local fixture = testenv.source_dir .. "/tests/fixtures/recipes/returns_data.lua"

local function run(mode, ...)
  return testenv.run { fixture, "--mode=" .. mode, ... }
end

-- exactly one JSON document on stdout (trailing whitespace allowed)
local function one_document(stdout)
  local doc, pos, err = json.decode(stdout)
  assert.is_table(doc, "not one JSON document: " .. tostring(err) .. ": " .. stdout)
  assert.equal("", stdout:sub(pos):match("^%s*(.-)$"), "more than one document")
  return doc
end

local function recipe_file(name, body)
  local path = testenv.tmpdir() .. "/" .. name .. ".lua"
  testenv.write_file(path, body)
  return path
end

describe("a recipe that returns data", function()
  it("in text: what its text renderer returns, stdout then stderr", function()
    local r = run("text")
    assert.equal(0, r.code, r.stderr)
    assert.equal("answer 42: a,b\n", r.stdout)
    assert.equal("a note on stderr\n", r.stderr)
  end)

  it("the renderer sees the run's options (-q)", function()
    local r = run("text", "-q")
    assert.equal("answer 42: a,b\n", r.stdout)
    assert.equal("", r.stderr)
  end)

  it("--json: one document of its data and the recipe's name; the renderer is not asked", function()
    local r = run("text", "--json")
    assert.equal(0, r.code, r.stderr)
    assert.equal('{"answer":42,"items":["a","b"],"recipe":"returns_data"}\n', r.stdout)
    assert.equal("", r.stderr)
  end)

  it("data and a status: the status is the exit status", function()
    for _, flag in ipairs { "-v", "--json" } do
      local r = run("status", flag)
      assert.equal(5, r.code, r.stderr)
      assert.matches("answer", r.stdout)
    end
  end)

  it("with findings, in text: the data, then the report", function()
    local r = run("with-findings")
    assert.equal(0, r.code, r.stderr)
    assert.equal("answer 42: a,b\nWARN: something to know\n\n[warn] seen: something to know\n", r.stdout)
  end)

  it("with findings, --json: one document with the data's keys and the report's", function()
    local r = run("with-findings", "--json")
    assert.equal(0, r.code, r.stderr)
    local doc = one_document(r.stdout)
    assert.equal(42, doc.answer)
    assert.equal("seen", doc.verdict)
    assert.equal("seen", doc.findings[1].id)
    assert.equal("a step", doc.checks[1].name)
    assert.equal(1, doc.schema)
    assert.is_true(doc.ok)
  end)

  it("a data key the report's document uses is an error, not a silent overwrite", function()
    local r = run("reserved-key", "--json")
    assert.equal(3, r.code)
    assert.equal("", r.stdout)
    assert.equal("connrecipe: returns_data: its data has the key 'findings', which the report's document uses\n",
      r.stderr)
  end)

  it("a renderer that returns no string is a recipe error", function()
    local r = run("bad-text")
    assert.equal(3, r.code)
    assert.matches("its text renderer returned a number as the stdout text, not a string", r.stderr)
  end)

  it("without a text renderer, the text is the REPL's printer's", function()
    local path = recipe_file("plain_data", [[
return cr.recipe{ name = "plain_data", run = function() return { port = 80, ok = true } end }
]])
    local r = testenv.run { path }
    assert.equal(0, r.code, r.stderr)
    assert.equal("{ ok = true, port = 80 }\n", r.stdout)
    r = testenv.run { path, "--json" }
    assert.equal('{"ok":true,"port":80,"recipe":"plain_data"}\n', r.stdout)
  end)

  it("a json formatter declared for speed writes the document of data without findings", function()
    local path = recipe_file("own_json", [[
return cr.recipe{ name = "own_json", run = function() return { n = 1 } end,
  json = function(data) return ('{"n":%d,"fast":true}'):format(data.n) end }
]])
    local r = testenv.run { path, "--json" }
    assert.equal(0, r.code, r.stderr)
    assert.equal('{"n":1,"fast":true}\n', r.stdout)
  end)
end)

describe("ctx:output", function()
  it("shows the data before run goes on; run's integer is then the exit status", function()
    local r = run("output-then-status")
    assert.equal(4, r.code)
    assert.equal("answer 42: a,b\n", r.stdout)
    assert.equal("a note on stderr\nafter the output\n", r.stderr)
    r = run("output-then-status", "--json")
    assert.equal(4, r.code)
    assert.equal(42, one_document(r.stdout).answer)
  end)

  it("before a command on our stdout: the data comes first", function()
    local path = recipe_file("then_child", [[
return cr.recipe{ name = "then_child", run = function(ctx)
  ctx:output { first = true }
  return cr.exec { inherit = true, "echo", "second" }.status
end }
]])
    local r = testenv.run { path, "--json" }
    assert.equal(0, r.code, r.stderr)
    assert.equal('{"first":true,"recipe":"then_child"}\nsecond\n', r.stdout)
  end)

  it("findings recorded after it: the text report follows; --json says on stderr they are not in it", function()
    local r = run("late-finding")
    assert.equal(1, r.code)
    assert.matches("^answer 42: a,b\nERROR: found after the data was shown\n", r.stdout)
    r = run("late-finding", "--json")
    assert.equal(1, r.code)
    assert.equal(42, one_document(r.stdout).answer)
    assert.matches("connrecipe: returns_data: 1 finding recorded after its data was shown is not in the document",
      r.stderr)
  end)

  it("once per run, and only a table", function()
    local r = run("twice")
    assert.equal(3, r.code)
    assert.matches("ctx:output: the run's data was already shown", r.stderr)
    r = run("not-a-table")
    assert.equal(3, r.code)
    assert.matches("ctx:output: expected a table of data, got string", r.stderr)
  end)
end)

describe("a recipe that fails with nil and a message", function()
  it("says it on stderr in one line, exit 1 or the status it gave, stdout empty", function()
    for _, flag in ipairs { "-v", "--json" } do
      local r = run("failure", flag)
      assert.equal(1, r.code)
      assert.equal("", r.stdout)
      assert.equal("connrecipe: returns_data: the thing could not be read\n", r.stderr)
    end
    local r = run("failure-usage")
    assert.equal(2, r.code)
    assert.equal("connrecipe: returns_data: --mode: not today\n", r.stderr)
  end)
end)
