-- The recipe framework: cr.recipe{...} declares a playbook, execute() parses
-- its arguments, runs it with a context that records checks and findings,
-- and renders the report. See docs/recipes.md.
local params = require "connrecipe.params"
local report = require "connrecipe.report"

return function(cr)
  local recipe = {}
  local recipe_mt = { __name = "connrecipe.recipe" }
  local Context = {}
  Context.__index = Context

  --- cr.recipe{name, description, params = {...}, run = function(ctx, args)}
  function recipe.declare(decl)
    if type(decl) ~= "table" then
      error("cr.recipe: expected a table {name, description, params, run}", 2)
    end
    if type(decl.run) ~= "function" then
      error("cr.recipe: 'run' must be a function(ctx, args)", 2)
    end
    local r = setmetatable({}, recipe_mt)
    r.name = decl.name or decl[1]
    r.description = decl.description or ""
    r.params, r.by_name = params.normalize(decl.params)
    r.run = decl.run
    return r
  end

  function recipe.is_recipe(v)
    return getmetatable(v) == recipe_mt
  end

  -- ---- the context a recipe's run function gets --------------------------------

  local severities = { ok = true, info = true, warn = true, error = true }

  --- ctx:check(name, fn, ...) -> fn's results, or nil, message if it raised.
  --- Times one investigation step; recorded for -v and --json.
  function Context:check(name, fn, ...)
    local t0 = cr.now()
    local res = table.pack(pcall(fn, ...))
    local entry = { name = name, ms = (cr.now() - t0) * 1000, ok = res[1] }
    if not res[1] then
      entry.error = tostring(res[2])
    end
    self.checks[#self.checks + 1] = entry
    if not res[1] then
      return nil, entry.error
    end
    return table.unpack(res, 2, res.n)
  end

  --- ctx:finding{id, severity, summary, evidence, fix} -> the finding
  function Context:finding(f)
    if type(f) ~= "table" or type(f.id) ~= "string" or type(f.summary) ~= "string" then
      error("ctx:finding: expected {id = string, severity = ..., summary = string, ...}", 2)
    end
    if not severities[f.severity] then
      error(("ctx:finding: severity must be ok, info, warn or error, got %s"):format(tostring(f.severity)), 2)
    end
    if f.fix ~= nil and type(f.fix) ~= "string" then
      error("ctx:finding: fix must be a string, got " .. type(f.fix), 2)
    end
    local ev = type(f.evidence)
    if f.evidence ~= nil and ev ~= "table" and ev ~= "string" and ev ~= "number" then
      error("ctx:finding: evidence must be a table or a string, got " .. ev, 2)
    end
    self.findings[#self.findings + 1] = f
    return f
  end

  --- ctx:verdict(id): the headline finding (default: the most severe, most specific)
  function Context:verdict(id)
    self.verdict_id = id
  end

  function Context:has(id)
    for _, f in ipairs(self.findings) do
      if f.id == id then
        return f
      end
    end
  end

  --- ctx:progress(fmt, ...): a progress line on stderr, only on a terminal
  function Context:progress(fmt, ...)
    if self.interactive then
      io.stderr:write(fmt:format(...), "\n")
    end
  end

  local function find(findings, id)
    for _, f in ipairs(findings) do
      if f.id == id then
        return f
      end
    end
  end

  -- most severe first; among equals, higher `priority`, then the first recorded
  local function default_verdict(findings)
    local best
    for _, f in ipairs(findings) do
      if not best then
        best = f
      else
        local fr, br = report.severity_rank[f.severity], report.severity_rank[best.severity]
        if fr > br or (fr == br and (f.priority or 0) > (best.priority or 0)) then
          best = f
        end
      end
    end
    return best
  end

  local function render(r, ctx)
    local verdict = ctx.verdict_id and find(ctx.findings, ctx.verdict_id) or default_verdict(ctx.findings)
    if ctx.verdict_id and not verdict then
      error(("ctx:verdict('%s'): no finding has that id"):format(ctx.verdict_id), 0)
    end
    local run = {
      recipe = r.name, target = ctx.target, verdict = verdict and verdict.id, verdict_finding = verdict,
      findings = ctx.findings, checks = ctx.checks, elapsed_ms = (cr.now() - ctx.started) * 1000,
      verbose = cr.cli.verbose, color = cr.cli.color,
    }
    if cr.cli.json then
      io.stdout:write(report.json(run), "\n")
    else
      local text = report.text(run)
      if cr.cli.quiet then -- the headline alone
        text = text:match("^[^\n]*\n")
      end
      io.stdout:write(text)
    end
    return (verdict and verdict.severity == "error") and 1 or 0
  end

  local function usage_error(name, message)
    io.stdout:flush()
    io.stderr:write(("connrecipe: %s: %s (see 'connrecipe %s --help')\n"):format(name, message, name))
    return 2
  end

  --- Runs a declared recipe with its command-line arguments; returns the exit status.
  function recipe.execute(r, file_name, argv)
    r.name = r.name or file_name:gsub("%.lua$", "")
    local args, err = params.parse(r.params, r.by_name, argv)
    if args == "help" then
      io.stdout:write(params.help(r.name, r.description, r.params))
      return 0
    elseif not args then
      return usage_error(r.name, err)
    end
    local ctx = setmetatable({
      recipe = r.name, args = args, findings = {}, checks = {}, started = cr.now(),
      json = cr.cli.json, verbose = cr.cli.verbose, quiet = cr.cli.quiet,
      interactive = not cr.cli.json and not cr.cli.quiet and cr.cli.stderr_tty,
    }, Context)
    for _, p in ipairs(r.params) do
      if p.type == "target" and type(args[p.key]) == "table" then
        ctx.target = ctx.target or args[p.key]
      end
    end
    local res = table.pack(r.run(ctx, args))
    if math.type(res[1]) == "integer" then
      return res[1] -- the recipe printed its own output
    end
    if #ctx.findings > 0 then
      return render(r, ctx)
    end
    return res[1] == false and 1 or 0
  end

  return recipe
end
