-- Recipes as functions (from the REPL, from another recipe, from the stock
-- lua5.4 inside cr.run) and help() that fits the terminal, driven through a
-- pseudo-terminal (tests/lib/ptydrive.py) as a person would use them.
local testenv = require "testenv"
local json = require "dkjson"
local public_functions = require("publicapi").functions

local q = testenv.quote
local PROMPT = "cr> "

-- Runs the REPL through the pty harness at `cols` columns (80 by default).
local function repl(steps, opts)
  opts = opts or {}
  local env = "XDG_STATE_HOME=" .. testenv.tmpdir() .. (opts.env and (" " .. opts.env) or "")
  local r = testenv.sh(("python3 %s/tests/lib/ptydrive.py --cols %d %s -- env %s %s"):format(
    testenv.source_dir, opts.cols or 80, q(json.encode(steps)), env, q(testenv.bin)))
  assert.equal(0, r.code, r.stderr)
  local doc = json.decode(r.stdout)
  assert.is_nil(doc.failed, "a step timed out; screen so far:\n" .. doc.output)
  assert.equal(0, doc.status, doc.output)
  return doc
end

local function line(text)
  return { send = text .. "\r" }
end

local function expect(pattern, timeout)
  return { expect = pattern, timeout = timeout }
end

-- What the program printed between two marker lines: the terminal's \r and
-- colour escapes taken out.
local function between(output, from, to)
  local plain = output:gsub("\r", ""):gsub("\27%[[%d;]*m", "")
  local s = assert(plain:find("\n" .. from .. "\n", 1, true), "no " .. from .. " line in:\n" .. plain)
  local e = assert(plain:find("\n" .. to .. "\n", s + 1, true), "no " .. to .. " line in:\n" .. plain)
  return plain:sub(s + #from + 2, e)
end

-- The lines `code` prints in the REPL, framed by marker lines (their own echo
-- shows the code that makes them, never the marker itself).
local function printed(code, opts)
  local doc = repl({
    expect(PROMPT),
    line("print(('<'):rep(3)); " .. code .. "; print(('>'):rep(3))"), expect(">>>\r\n"), expect(PROMPT),
    { send = "\4" },
  }, opts)
  return between(doc.output, "<<<", ">>>")
end

local function lines_of(text)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do
    out[#out + 1] = l
  end
  return out
end

local function columns(s)
  return utf8.len(s) or #s
end

-- help()'s index as {group = {names...}}, and the recipes it lists: a group
-- is a line at the margin ("cr.probe", "task: what ..."), its entries are
-- indented "  name, name  summary".
local function parse_index(text)
  local names, recipes, group, in_recipes = {}, {}, nil, false
  for _, l in ipairs(lines_of(text)) do
    if l:match("^recipes") then
      in_recipes, group = true, nil
    elseif l:match("^[%w._]+:? ") or l:match("^[%w._]+$") then
      group = not in_recipes and l:match("^([%w._]+)") or nil
    elseif l:match("^  %S") then
      local list = l:match("^  (.-)  ") or l:match("^  (.-)%s*$")
      if in_recipes then
        recipes[#recipes + 1] = list
      elseif group then
        for short in list:gmatch("[^,%s]+") do
          local sep = (group == "task" or group == "ctx" or group == "report") and ":" or "."
          names[#names + 1] = group .. sep .. short
        end
      end
    end
  end
  return names, recipes
end

after_each(testenv.cleanup)

describe("help() in the REPL", function()
  it("fits 80 columns: every public function once, grouped by module, then the recipes", function()
    local text = printed("help()")
    for i, l in ipairs(lines_of(text)) do
      assert.is_true(columns(l) <= 80, ("line %d is %d columns wide: %s"):format(i, columns(l), l))
    end
    local names, recipes = parse_index(text)
    local seen, twice = {}, {}
    for _, n in ipairs(names) do
      if seen[n] then
        twice[#twice + 1] = n
      end
      seen[n] = true
    end
    assert.same({}, twice, "listed more than once")
    local missing = {}
    for _, n in ipairs(public_functions()) do
      if not seen[n] then
        missing[#missing + 1] = n
      end
    end
    assert.same({}, missing, "public functions missing from help():\n" .. text)
    assert.same({ "diagnose", "listeners", "scan", "wait-for-it", "waitfor", "whoowns" }, recipes)
    assert.not_matches("`", text)
    assert.not_matches("%*%*", text)
  end)

  it("fits a narrow terminal too, cutting summaries on a word", function()
    local text = printed("help()", { cols = 50 })
    for i, l in ipairs(lines_of(text)) do
      assert.is_true(columns(l) <= 50, ("line %d is %d columns wide: %s"):format(i, columns(l), l))
    end
    assert.matches("\n  tcp +Resolves host [%w ,()]- %.%.%.\n", text)
  end)

  it("help(fn) and help('name') show the full text, markdown rendered", function()
    local text = printed("help(cr.probe.tcp)")
    assert.matches("^cr%.probe%.tcp%(host, port %[, opts%]%)", text)
    assert.matches("connects to every address, concurrently", text) -- **every** in the docs
    assert.not_matches("`", text)
    assert.not_matches("%*%*", text)
    -- code blocks are indented and keep their lines
    assert.matches('\n      local r = cr%.probe%.tcp%("127%.0%.0%.1", 6379, {send = "PING\\r\\n"}%)\n', text)
    for _, l in ipairs(lines_of(text)) do -- prose is wrapped at the width
      if not l:match("^      ") then
        assert.is_true(columns(l) <= 80, l)
      end
    end
    assert.equal(text, printed("help('cr.probe.tcp')"))
    assert.equal(text, printed("help('tcp')"))
  end)

  it("help('word') searches names and summaries, and says when nothing matches", function()
    local text = printed("help('proxy')")
    assert.matches("\n  proxy_env ", text)
    assert.matches("\n  proxy_for ", text)
    assert.not_matches("sleep", text)
    -- a short name two modules share is a search too
    text = printed("help('status')")
    assert.matches("^cr%.service\n  status ", text)
    assert.matches("\ntask: [^\n]*\n  status ", text)
    text = printed("help('no such thing anywhere')")
    assert.matches("nothing in help matches 'no such thing anywhere'", text)
  end)

  it("help(diagnose) shows the recipe's parameters and how to call it", function()
    local text = printed("help(diagnose)")
    assert.matches("usage: connrecipe diagnose %[TARGET%]", text)
    assert.matches("as a function: diagnose%(TARGET%)", text)
    for _, l in ipairs(lines_of(text)) do
      assert.is_true(columns(l) <= 80, l)
    end
  end)
end)

describe("recipes as functions in the REPL", function()
  local port, server

  before_each(function()
    -- ports reserved for this run (until cleanup): nothing else listens there, another run does not pick them
    port = testenv.port_block() + 1
    -- EXEC:cat keeps each connection, as a server does (SYSTEM:true closes it at once: accepted-then-closed)
    server = testenv.background(("timeout 30 socat TCP4-LISTEN:%d,bind=127.0.0.1,reuseaddr,fork EXEC:cat")
      :format(port))
    assert(testenv.wait_for(function()
      return testenv.sh(("ss -Hltn 'sport = :%d'"):format(port)).stdout:match("%S") ~= nil
    end))
  end)

  after_each(function()
    testenv.stop(server) -- by its pid: another spec's socat with this command line is not ours
  end)

  it("diagnose(...) runs inline, shows the text report and returns it as a table", function()
    local closed = port + 566 -- in the reserved block, and no near miss of port (port-mismatch)
    local doc = repl {
      expect(PROMPT),
      line(("r = diagnose('127.0.0.1:%d')"):format(closed)), expect(PROMPT),
      line("r"), expect("ERROR: nothing listens on port " .. closed), expect("fix: "), expect(PROMPT),
      line("=r.verdict, r.ok, r.status"), expect('"no-listener"\r\nfalse\r\n1\r\n'), expect(PROMPT),
      line("=r:finding('no-listener').severity"), expect('"error"'), expect(PROMPT),
      line("help(r)"), expect("report: what a recipe called as a function returns"), expect("\\n  finding +"),
      expect(PROMPT),
      line(("=diagnose{target = '127.0.0.1:%d', timeout = 1}.verdict"):format(port)), expect('"reachable"'),
      expect(PROMPT),
      { send = "\4" },
    }
    assert.not_matches("stack traceback", doc.output)
  end)

  it("a bad argument raises the one-line message the command line prints", function()
    local cli = testenv.run { "diagnose", "127.0.0.1:1", "--timeout", "soon" }
    assert.equal(2, cli.code)
    local message = cli.stderr:match("^connrecipe: (.-)\n$")
    assert.equal("diagnose: --timeout: expected a number, got 'soon' (see 'connrecipe diagnose --help')", message)
    local doc = repl {
      expect(PROMPT),
      line("diagnose('127.0.0.1:1', {timeout = 'soon'})"), expect(PROMPT),
      line("diagnose()"), expect(PROMPT),
      line("whoowns('not a port')"), expect(PROMPT),
      { send = "\4" },
    }
    local out = doc.output:gsub("\r", "")
    assert.matches("\n" .. message:gsub("%p", "%%%0") .. "\n", out)
    assert.matches("\ndiagnose: missing TARGET %(see 'connrecipe diagnose %-%-help'%)\n", out)
    assert.matches("\nwhoowns: PORT|ADDR:PORT|PATH: 'not a port' is not PORT, ADDR:PORT or a socket path", out)
  end)

  it("recipes() lists them as --list does, and Tab completes their names", function()
    local listing = testenv.run({ "--list" }).stdout
    local text = printed("recipes()")
    assert.equal(listing, text)
    local doc = repl {
      expect(PROMPT),
      { send = "whoo\t" }, { sleep = 0.2 }, { send = ("(%d).status\r"):format(port) }, expect("\r\n0\r\n"),
      expect(PROMPT),
      { send = "cr.recipes.diag\t" }, { sleep = 0.2 }, { send = "\r" }, expect("function: "), expect(PROMPT),
      { send = "\4" },
    }
    assert.matches("wns%(" .. port .. "%)", doc.output) -- "whoo" completed, as libedit redraws it
  end)
end)

describe("recipes as functions elsewhere", function()
  it("a site recipe on the path composes diagnose; --json prints one document", function()
    local dir = testenv.trusted_tmpdir()
    testenv.write_file(dir .. "/sitecheck.lua", [[
-- Is our service up? Asks diagnose, keeps its verdict.
return cr.recipe {
  name = "sitecheck",
  params = { { "port", type = "port", positional = true } },
  run = function(ctx, args)
    local r = cr.recipes.diagnose { target = "127.0.0.1:" .. args.port, timeout = 1 }
    local f = r.findings[1]
    ctx:finding { id = "site-" .. r.verdict, severity = f.severity, summary = "diagnose says: " .. f.summary }
    return { diagnosed = r.verdict, diagnose_status = r.status }
  end,
}
]])
    local env = "CONNRECIPE_PATH=" .. q(dir)
    local r = testenv.run({ "sitecheck", "1", "--json" }, { env = env })
    assert.equal(1, r.code, r.stderr)
    local doc = assert(json.decode(r.stdout), r.stdout) -- one document: the inner call printed nothing
    assert.equal("site-no-listener", doc.verdict)
    assert.equal("no-listener", doc.diagnosed)
    assert.equal(1, doc.diagnose_status)
    -- the site recipe is a function too, from another chunk
    r = testenv.run({ "-e", "print(cr.recipes.sitecheck(1).data.diagnosed)" }, { env = env })
    assert.equal("no-listener\n", r.stdout, r.stderr)
  end)

  it("report:document() is the document --json prints; report:headline() the status line's", function()
    local code = [[
local doc = cr.recipes.diagnose{ target = "127.0.0.1:1", timeout = 0.2 }:document()
local scan = cr.recipes.scan{ "127.0.0.1", ports = "1" }:document()
local scan_headline = cr.recipes.scan{ "127.0.0.1", ports = "1" }:headline()
print(require("cjson").encode { diagnose = doc, scan = scan, scan_headline = scan_headline })]]
    local r = testenv.run({ "-e", code })
    assert.equal(0, r.code, r.stderr)
    local got = assert(json.decode(r.stdout), r.stdout)
    local cli = assert(json.decode(testenv.run({ "diagnose", "127.0.0.1:1", "--timeout", "0.2", "--json" }).stdout))
    for _, key in ipairs { "schema", "recipe", "verdict", "target", "ok" } do
      assert.same(cli[key], got.diagnose[key], key)
    end
    assert.equal(cli.findings[1].summary, got.diagnose.findings[1].summary)
    local scan = assert(json.decode(testenv.run({ "scan", "127.0.0.1", "--ports", "1", "--json" }).stdout))
    assert.equal("scan", got.scan.recipe)
    assert.equal(1, got.scan.total)
    assert.same(scan.counts, got.scan.counts)
    -- the headline is Nagios' status line's
    local nagios = testenv.run({ "scan", "127.0.0.1", "--ports", "1", "--format", "nagios" }).stdout
    assert.equal(nagios:match("^CONNRECIPE %u+ %- (.-) |"), got.scan_headline)
  end)

  it("a recipe in a directory others can write is never loaded", function()
    local dir = testenv.tmpdir() -- under /tmp: world-writable above it
    testenv.write_file(dir .. "/planted.lua", "os.execute('touch " .. dir .. "/ran')\nreturn 1\n")
    local r = testenv.run({ "-e", "cr.recipes.planted()" }, { env = "CONNRECIPE_PATH=" .. q(dir) })
    assert.equal(3, r.code)
    assert.matches("skipping recipe " .. dir:gsub("%p", "%%%0") .. "/planted.lua", r.stderr)
    assert.matches("recipe 'planted' not found", r.stderr)
    assert.is_nil(io.open(dir .. "/ran"))
  end)

  it("works from the stock lua5.4 inside cr.run", function()
    local lua = os.getenv("CONNRECIPE_LUA") or "lua5.4"
    local preload = os.getenv("CONNRECIPE_ASAN_PRELOAD")
    if preload then -- an instrumented module needs the ASan runtime in the interpreter
      lua = "LD_PRELOAD=" .. q(preload) .. " ASAN_OPTIONS=detect_leaks=0 " .. q(lua)
    else
      lua = q(lua)
    end
    local code = ([[
package.cpath = %q .. "/?.so;" .. package.cpath
local cr = require "connrecipe"
local r = cr.run(function() return cr.recipes.diagnose("127.0.0.1:1") end)
print(r.verdict, r.status, type(r.findings[1].fix))
print(pcall(cr.run, function() return cr.recipes.diagnose() end))
print(#cr.recipes() >= 5)
]]):format(os.getenv("CONNRECIPE_MODULE_DIR"))
    local r = testenv.sh(("%s -e %s"):format(lua, q(code)))
    assert.equal(0, r.code, r.stderr)
    assert.equal("no-listener\t1\tstring\nfalse\tdiagnose: missing TARGET (see 'connrecipe diagnose --help')\ntrue\n",
      r.stdout)
  end)
end)
