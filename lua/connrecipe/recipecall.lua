-- Recipes as functions: cr.recipes.diagnose("localhost:8080") (in the REPL
-- simply diagnose(...)) finds the recipe as `connrecipe diagnose` does (the
-- trusted recipe path, then the built-ins), turns the call's arguments into
-- the words of a command line, parses them against its params, runs it in the
-- current task and returns the report as a table. Nothing is printed; a bad
-- argument raises the one-line message the CLI prints. See docs/api.md.
local cr = require "connrecipe"
local params = require "connrecipe.params"
local output = require "connrecipe.output"
local report = require "connrecipe.report"

local recipecall = {}

-- ---- arguments: a call's values as the words of a command line ---------------------

local function usage_failure(name, message)
  error(("%s: %s"):format(name, output.usage_message(name, message)), 0)
end

local function display(p)
  return p.positional and (p.metavar or p.name:upper()) or ("--" .. p.name)
end

-- A value as the word the command line would give.
local function word(name, p, v)
  if type(v) == "string" then
    return v
  elseif math.type(v) == "integer" then
    return ("%d"):format(v)
  elseif type(v) == "number" then -- the shortest that reads back as v
    local s = ("%.14g"):format(v)
    return tonumber(s) == v and s or ("%.17g"):format(v)
  elseif p.type == "list" and type(v) == "table" then
    local items = {}
    for i, item in ipairs(v) do
      items[i] = word(name, { type = "string", name = p.name }, item)
    end
    return table.concat(items, ",")
  end
  usage_failure(name, ("%s: expected a string or a number, got a %s"):format(display(p), type(v)))
end

-- The declaration a key of a call's table names: "save_facts" or "save-facts".
local function param_of(r, key)
  return r.by_name[key] or r.by_name[(key:gsub("_", "-"))]
end

-- The named arguments of a table: options as "--name=value" words, the
-- positional ones into their slots, the rest parameter's words.
local function named_words(name, r, t, words, slots, rest)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then
      keys[#keys + 1] = k
    elseif math.type(k) ~= "integer" or k < 1 or k > #t then
      usage_failure(name, ("unexpected argument key %s"):format(tostring(k)))
    end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local p, v = param_of(r, k), t[k]
    if not p then
      usage_failure(name, ("unknown option '--%s'"):format(k))
    elseif p.rest then
      rest[1] = type(v) == "table" and v or { v }
    elseif p.positional then
      slots[p.key] = v
    elseif p.type == "boolean" and type(v) == "boolean" then
      words[#words + 1] = (v and "--" or "--no-") .. p.name
    else
      words[#words + 1] = "--" .. p.name .. "=" .. word(name, p, v)
    end
  end
end

--- recipecall.argv(name, r, ...) -> the command line words of a call:
--- positional values as they are, and a table (alone, or last) of values
--- by parameter name (with its array part positional too).
function recipecall.argv(name, r, ...)
  local n, args = select("#", ...), { ... }
  local named
  if n > 0 and type(args[n]) == "table" and getmetatable(args[n]) == nil then
    named, n = args[n], n - 1
  end
  local words, positional, slots, rest = {}, {}, {}, {}
  for i = 1, n do
    positional[i] = word(name, { name = "argument " .. i, positional = true, metavar = "argument " .. i }, args[i])
  end
  if named then
    for _, v in ipairs(named) do
      positional[#positional + 1] = word(name, { name = "argument", positional = true }, v)
    end
    named_words(name, r, named, words, slots, rest)
  end
  -- positional parameters given by name take their place among the others
  local i = 0
  for _, p in ipairs(r.params) do
    if p.positional then
      i = i + 1
      local v = slots[p.key]
      if p.many and type(v) == "table" then -- {target = {"a:1", "b:2"}}: each its own word
        for _, each in ipairs(v) do
          table.insert(positional, math.min(i, #positional + 1), word(name, p, each))
          i = i + 1
        end
      elseif v ~= nil then
        table.insert(positional, math.min(i, #positional + 1), word(name, p, v))
      end
    end
  end
  table.move(positional, 1, #positional, #words + 1, words)
  if rest[1] then
    words[#words + 1] = "--"
    for _, v in ipairs(rest[1]) do
      words[#words + 1] = word(name, { name = "command", positional = true, metavar = "CMD" }, v)
    end
  end
  return words
end

-- ---- the report ------------------------------------------------------------------------

-- What rendering a report needs besides its fields: the declaration (its
-- text renderer) and the run's context.
local rendering = setmetatable({}, { __mode = "k" })

local Report = { __name = "connrecipe.report" }
local methods = {}
Report.__index = methods

--- report:finding(id) -> the finding with that id, or nil
function methods:finding(id)
  for _, f in ipairs(self.findings) do
    if f.id == id then
      return f
    end
  end
end

--- report:text([colour]) -> the text the command line prints for the run
function methods:text(colour)
  return recipecall.text(self, colour)
end

--- report:document() -> the document `--json` prints for the run, as a table
function methods:document()
  local how = rendering[self] or {}
  if not how.r then
    error("report:document: not a report of a recipe call", 2)
  end
  return output.document(how.r, how.ctx, self.data, how.returned_false)
end

--- report:headline() -> the one line that heads the run (Nagios' status line)
function methods:headline()
  local how = rendering[self] or {}
  if not how.r then
    error("report:headline: not a report of a recipe call", 2)
  end
  return output.headline(how.r, how.ctx, self.verdict and self:finding(self.verdict), self.status, self.data)
end

Report.__tostring = function(self)
  return (recipecall.text(self, false):gsub("\n$", ""))
end

function recipecall.is_report(v)
  return getmetatable(v) == Report
end

local function text_of(r, ctx, data)
  if not r.text then
    return require("connrecipe.pretty").format(data) .. "\n"
  end
  local out, err = r.text(data, ctx)
  local parts = {}
  for _, s in ipairs { out, err } do
    if type(s) == "string" then
      parts[#parts + 1] = s
    end
  end
  return table.concat(parts)
end

--- recipecall.text(report, colour) -> the report as the command line would
--- print it: the data as its recipe renders it, then the findings.
function recipecall.text(rep, colour)
  local how = rendering[rep] or {}
  local parts = {}
  if rep.data ~= nil and how.r then
    parts[#parts + 1] = text_of(how.r, how.ctx, rep.data)
  end
  if #rep.findings > 0 then
    parts[#parts + 1] = report.text {
      recipe = rep.recipe, verdict = rep.verdict, verdict_finding = rep:finding(rep.verdict),
      findings = rep.findings, checks = rep.checks, elapsed_ms = rep.elapsed_ms, color = colour,
    }
  elseif rep.data == nil then
    parts[#parts + 1] = how.returned_false and "no findings; the recipe reported failure\n" or "no findings\n"
  end
  return table.concat(parts)
end

-- The report of a run: what the command line would have shown, as a table.
local function make_report(r, ctx, outcome)
  if outcome.message then
    error(("%s: %s"):format(r.name, outcome.message), 0)
  end
  if outcome.data and ctx.shown then
    error(r.name .. ": run returned data after ctx:output had shown it", 0)
  end
  local verdict, verdict_status = output.conclude(ctx, outcome.returned_false)
  local status = outcome.status or verdict_status
  local target = ctx.target
  if type(target) == "table" and target.display then
    target = target.display
  end
  local rep = setmetatable({
    recipe = r.name, target = target, verdict = verdict and verdict.id,
    findings = report.ordered(ctx.findings, verdict and verdict.id), checks = ctx.checks,
    data = outcome.data or ctx.data, status = status, ok = status == 0,
    elapsed_ms = (cr.now() - ctx.started) * 1000,
  }, Report)
  rendering[rep] = { r = r, ctx = ctx, returned_false = outcome.returned_false }
  return rep
end

-- ---- calling ---------------------------------------------------------------------------

-- Recipes reach the module as the global `cr`, which the executable sets;
-- from the stock lua5.4 (require "connrecipe" inside cr.run) a recipe's
-- chunk sees it through an environment that is _G otherwise.
local function with_cr(chunk)
  if rawget(_G, "cr") ~= cr then
    local env = setmetatable({ cr = cr }, { __index = _G, __newindex = _G })
    debug.setupvalue(chunk, 1, env) -- a main chunk's one upvalue is _ENV
  end
  return chunk
end

-- The recipe NAME: its chunk and what the path says of it; raises when it is
-- not found (the CLI's message).
local function load(name)
  local chunk, info = cr._recipe_load(name)
  if not chunk then
    error(info, 0)
  end
  return with_cr(chunk), info
end

--- recipecall.call(name, ...) -> the report of a declared recipe run with
--- these arguments; a plain script's own results.
function recipecall.call(name, ...)
  local chunk, info = load(name)
  local res = table.pack(chunk(...))
  local r = res[1]
  if not cr._recipe.is_recipe(r) then
    return table.unpack(res, 1, res.n) -- a plain script: its arguments were the call's
  end
  r.name = r.name or info.name
  local args, err = params.parse(r.params, r.by_name, recipecall.argv(r.name, r, ...))
  if args == "help" then
    io.stdout:write(params.help(r.name, r.description, r.params))
    return nil
  elseif not args then
    usage_failure(r.name, err)
  end
  return make_report(r, cr._recipe.call(r, args))
end

--- recipecall.declaration(name) -> the recipe's declaration (for help), or
--- nil and what the path says of it: a plain script is never run to learn it.
function recipecall.declaration(name)
  local chunk, info = load(name)
  if not info.declares then
    return nil, info
  end
  local ok, r = pcall(chunk)
  if ok and cr._recipe.is_recipe(r) then
    r.name = r.name or info.name
    return r, info
  end
  return nil, info
end

-- ---- the functions -------------------------------------------------------------------------

local functions, names = {}, setmetatable({}, { __mode = "k" })

--- recipecall.function_of(name) -> the function that calls recipe NAME (one per name)
function recipecall.function_of(name)
  local f = functions[name]
  if not f then
    f = function(...)
      return recipecall.call(name, ...)
    end
    functions[name], names[f] = f, name
  end
  return f
end

--- recipecall.name_of(fn) -> the recipe name fn calls, or nil
function recipecall.name_of(fn)
  return names[fn]
end

--- recipecall.list() -> the recipes on the path, as --list shows them
function recipecall.list()
  return cr._recipe_list()
end

--- recipecall.list_text(list) -> --list's table: RECIPE  DESCRIPTION  FROM
--- (names, descriptions and directories escaped for the terminal)
function recipecall.list_text(list)
  local rows, wname, wdesc = {}, #"RECIPE", #"DESCRIPTION"
  for i, e in ipairs(list) do
    local description = e.description ~= "" and e.description or "-"
    rows[i] = { cr.text.escape(e.name), cr.text.escape(description), cr.text.escape(e.origin) }
    wname, wdesc = math.max(wname, #rows[i][1]), math.max(wdesc, #rows[i][2])
  end
  local row = "%-" .. wname .. "s  %-" .. wdesc .. "s  %s\n"
  local out = { row:format("RECIPE", "DESCRIPTION", "FROM") }
  for _, r in ipairs(rows) do
    out[#out + 1] = row:format(r[1], r[2], r[3])
  end
  return table.concat(out)
end

--- recipecall.list_json(list) -> --list --json: {"recipes": [{name, description, path}]}
function recipecall.list_json(list)
  local rows = {}
  for i, e in ipairs(list) do
    rows[i] = { name = e.name, description = e.description, path = e.path }
  end
  return require("connrecipe.json").encode { recipes = rows } .. "\n"
end

--- recipecall.table() -> cr.recipes: cr.recipes.NAME is the function that
--- calls recipe NAME (raising when there is none); cr.recipes() lists them.
function recipecall.table()
  return setmetatable({}, {
    __name = "connrecipe.recipes",
    __index = function(_, name)
      if type(name) ~= "string" then
        return nil
      end
      load(name)
      return recipecall.function_of(name)
    end,
    __call = function()
      return recipecall.list()
    end,
  })
end

return recipecall
