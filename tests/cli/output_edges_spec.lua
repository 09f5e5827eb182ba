-- Edge cases of a run's output and of the REPL: --json gives exactly one
-- document when a stop lands while the report is built, a child on our stdout
-- (os.execute, io.popen "w", /dev/stdout by name) counts as the recipe
-- printing when stdout is a file, print and io.write count on a pipe too,
-- while print, io.write and the file methods stay the stock C functions, and
-- Ctrl-C and os.exit from background tasks at the REPL prompt.
local testenv = require "testenv"
local json = require "dkjson"

after_each(testenv.cleanup)

local function recipe_file(name, body)
  local path = testenv.tmpdir() .. "/" .. name .. ".lua"
  testenv.write_file(path, body)
  return path
end

-- exactly one JSON document on stdout (trailing whitespace allowed)
local function one_document(stdout)
  local doc, pos, err = json.decode(stdout)
  assert.is_table(doc, "not one JSON document: " .. tostring(err) .. ": " .. stdout)
  assert.equal("", stdout:sub(pos):match("^%s*(.-)$"), "more than one document")
  return doc
end

describe("--json and --deadline", function()
  -- the report takes a while to build (here: evidence whose __pairs spins the
  -- first time; in life, a large report): the deadline expires after run
  -- returned, before the document was written
  local slow = [[
return cr.recipe{ name = "slow_render", run = function(ctx)
  local spun = false
  ctx:finding{ id = "big", severity = "warn", summary = "slow to render",
    evidence = setmetatable({}, { __pairs = function(t)
      if not spun then spun = true; while true do end end
      return next, t, nil
    end }) }
end }
]]

  it("expiring while the report is built still prints the one document", function()
    local r = testenv.run { "--json", "--deadline", "0.3", recipe_file("slow_render", slow) }
    assert.equal(3, r.code, r.stderr)
    local doc = one_document(r.stdout)
    assert.equal("deadline", doc.interrupted)
    assert.equal("big", doc.findings[1].id)
  end)

  it("expiring while the text report is built still prints the report so far", function()
    local r = testenv.run { "--deadline", "0.3", recipe_file("slow_render", slow) }
    assert.equal(3, r.code, r.stderr)
    assert.matches("%[warn%] big: slow to render", r.stdout)
    assert.matches("CUT SHORT: the deadline expired", r.stdout)
  end)
end)

describe("a run cut short", function()
  it("does not list a check whose task was cancelled earlier as unfinished", function()
    local path = recipe_file("cancelled", [[
return cr.recipe{ name = "cancelled", run = function(ctx)
  local t = cr.spawn(function() ctx:check("raced and lost", cr.sleep, 10) end)
  cr.sleep(0.05); t:cancel()
  ctx:check("quick", function() end)
  ctx:check("slow", cr.sleep, 10)
end }
]])
    local r = testenv.run { "--deadline", "0.4", path }
    assert.equal(3, r.code, r.stderr)
    assert.matches("slow%s+[%d.]+ ms  unfinished: deadline expired", r.stdout)
    assert.not_matches("raced and lost", r.stdout)
  end)
end)

describe("a recipe whose child writes to our stdout", function()
  it("os.execute, no findings, --json: the child's output is the only thing on stdout", function()
    local path = recipe_file("shell_out", [[
return cr.recipe{ name = "shell_out", run = function(ctx) os.execute("echo from-child") end }
]])
    local r = testenv.run { "--json", path }
    assert.equal(0, r.code, r.stderr)
    assert.equal("from-child\n", r.stdout)
  end)

  it("io.popen(cmd, 'w') with findings, --json: no document appended, the warning on stderr", function()
    local path = recipe_file("pipe_out", [[
return cr.recipe{ name = "pipe_out", run = function(ctx)
  local p = io.popen("cat", "w"); p:write("from-child\n"); p:close()
  ctx:finding{ id = "a", severity = "info", summary = "s" }
end }
]])
    local r = testenv.run { "--json", path }
    assert.equal(0, r.code, r.stderr)
    assert.equal("from-child\n", r.stdout)
    assert.matches("so no document of its 1 finding follows", r.stderr)
  end)

  it("io.output('/dev/stdout') then io.write, no findings, --json: its output only", function()
    local path = recipe_file("dev_stdout", [[
return cr.recipe{ name = "dev_stdout", run = function(ctx)
  io.output("/dev/stdout"); io.write('{"own":true}\n'); io.output():flush()
end }
]])
    local r = testenv.run { "--json", path }
    assert.equal(0, r.code, r.stderr)
    assert.equal('{"own":true}\n', r.stdout)
  end)

  it("io.popen(cmd, 'r') reads the child's output: the document still follows", function()
    local path = recipe_file("pipe_in", [[
return cr.recipe{ name = "pipe_in", run = function(ctx)
  local p = io.popen("echo hidden", "r"); p:read("a"); p:close()
end }
]])
    local r = testenv.run { "--json", path }
    assert.equal(0, r.code, r.stderr)
    assert.equal("pipe_in", one_document(r.stdout).recipe)
  end)
end)

describe("a recipe's stdout on a pipe", function()
  local prints = testenv.source_dir .. "/tests/fixtures/recipes/prints_and_finds.lua"

  local function piped(args)
    local parts = { testenv.quote(testenv.bin) }
    for _, a in ipairs(args) do
      parts[#parts + 1] = testenv.quote(a)
    end
    return testenv.sh(table.concat(parts, " ") .. " | cat")
  end

  for _, how in ipairs { "print", "io-write", "stdout-write" } do
    it("--json (" .. how .. "): its own output is the one document, the findings left out on stderr", function()
      local r = piped { prints, "--how=" .. how, "--json" }
      assert.equal('{"own":true}\n', r.stdout)
      assert.matches("so no document of its 2 findings follows", r.stderr)
    end)
  end

  it("in text: its own output, then the report", function()
    local r = piped { prints }
    assert.matches('^{"own":true}\nOK: the first finding\n', r.stdout)
  end)
end)

-- Issue 13.5: the framework noticed a recipe's output by replacing print,
-- io.write, io.open, io.output, os.execute, io.popen and every file's write
-- with Lua wrappers. It counts stdout in C now; the standard library is the
-- stock one, so the same script prints the same under lua5.4 and as a recipe.
describe("the standard library in a recipe", function()
  local script = [[
print(pcall(string.dump, print))
print(pcall(string.dump, io.write))
print(pcall(debug.upvaluejoin, print, 1, function() return print end, 1))
print("print still prints")
print(pcall(io.write, {}))
print(pcall(io.stdout.write, io.stdout, {}))
print(pcall(io.open, {}))
print(pcall(os.execute, {}))
for _, name in ipairs { "print", "io.write", "io.open", "io.output", "io.popen", "os.execute" } do
  local f = load("return " .. name)()
  print(name, debug.getinfo(f, "S").what)
end
print("file:write", debug.getinfo(io.stdout.write, "S").what)
local out = io.stdout
io = nil -- luacheck: ignore 121
print(out:write("file:write after io = nil\n") == out)
]]

  local function stock(path)
    local r = testenv.sh("lua5.4 " .. testenv.quote(path))
    assert.equal(0, r.code, r.stderr)
    return r.stdout
  end

  it("behaves as in stock lua5.4: a plain script", function()
    local path = recipe_file("stock_io", script)
    local r = testenv.run { path }
    assert.equal(0, r.code, r.stderr)
    assert.matches("false\tunable to dump given function\n", r.stdout)
    assert.matches("\nprint\tC\n", r.stdout)
    assert.matches("\nfile:write after io = nil\ntrue\n$", r.stdout)
    assert.equal(stock(path), r.stdout)
  end)

  it("behaves as in stock lua5.4: inside a declared recipe's run, with --json", function()
    local path = recipe_file("stock_io_recipe",
      "return cr.recipe{ name = 'stock_io_recipe', run = function()\n" .. script .. "end }\n")
    local plain = recipe_file("stock_io_plain", script)
    local r = testenv.run { "--json", path }
    assert.equal(0, r.code, r.stderr)
    assert.equal(stock(plain), r.stdout) -- and no document after its own output
  end)
end)

describe("the REPL at its prompt", function()
  local function drive(steps, cmd)
    local r = testenv.sh(("python3 %s/tests/lib/ptydrive.py %s -- %s"):format(testenv.source_dir,
      testenv.quote(json.encode(steps)), cmd))
    assert.equal(0, r.code, r.stderr)
    return json.decode(r.stdout)
  end

  it("Ctrl-C still gets through while a background task spins", function()
    -- before Ctrl-C became a libedit key, the second one killed the process
    -- (the first is not the background task's to take); now neither reaches
    -- it: libedit never reads the key while Lua spins, and the REPL hangs
    local doc = drive({
      { expect = "cr> " }, { send = "cr.spawn(function() cr.sleep(0.3) while true do end end)\r" },
      { expect = "cr> " }, { sleep = 1 },
      { send = "\3" }, { sleep = 0.5 }, { send = "\3" }, { sleep = 0.5 },
    }, ("env XDG_STATE_HOME=%s %s -i"):format(testenv.tmpdir(), testenv.quote(testenv.bin)))
    assert.is_not_nil(doc.status, "the REPL ignored Ctrl-C (killed by the driver); screen:\n" .. doc.output)
  end)

  it("leaves the terminal as it found it when a background task calls os.exit", function()
    local dir = testenv.tmpdir()
    local script = ("stty -a >%s/before; XDG_STATE_HOME=%s %s -i; echo STTY:; stty -a | diff %s/before - && echo SAME")
      :format(dir, dir, testenv.quote(testenv.bin), dir)
    local doc = drive({
      { expect = "cr> " }, { send = "cr.spawn(function() cr.sleep(0.3) os.exit(0) end)\r" },
      { expect = "STTY:" }, { sleep = 0.3 },
    }, "sh -c " .. testenv.quote(script))
    assert.matches("SAME", doc.output, doc.output)
  end)
end)
