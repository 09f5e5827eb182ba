-- The recipe framework: cr.recipe{...} declares a playbook, execute() parses
-- its arguments, runs it with a context that records checks and findings,
-- and renders the report. See docs/recipes.md.
local params = require "connrecipe.params"
local report = require "connrecipe.report"
local cr = require "connrecipe"

-- Called once by the module loader: cr.recipe and cr._recipe (for the runner).
return function()
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
  --- Times one investigation step; recorded for -v and --json (with the code
  --- of a nil, message, code failure as entry.code).
  function Context:check(name, fn, ...)
    local t0 = cr.now()
    local running = { name = name, started = t0 }
    self.running[running] = true -- a run cut short lists it as unfinished
    -- a check whose task is cancelled (not by the stop) is not running any more
    local _ <close> = setmetatable({}, { __close = function()
      if not cr._stopping() then
        self.running[running] = nil
      end
    end })
    local res = table.pack(pcall(fn, ...))
    if not res[1] and cr._stopping() then
      error(res[2], 0) -- Ctrl-C or the deadline raised inside fn: not a failed check, the end of the run
    end
    self.running[running] = nil
    local entry = { name = name, ms = (cr.now() - t0) * 1000, ok = res[1] }
    if not res[1] then
      entry.error = tostring(res[2])
    elseif res[2] == nil and type(res[4]) == "string" then
      entry.code = res[4] -- fn returned nil, message, code: the code is kept for the checks to decide on
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

  -- ---- the run in progress, for a run cut short -----------------------------------

  -- What the runner is running: {name, started, ctx (once the recipe runs),
  -- wrote (anything went to stdout), inherited (cr._inherited() at the
  -- start)}. When --deadline or Ctrl-C cuts it short, recipe.stopped() prints
  -- the report (text or --json) of what it found so far.
  local active
  local watching = false

  -- Notes whether the recipe printed anything itself (print, io.write,
  -- io.stdout:write): a recipe that printed its own document or report (or
  -- anything else) gets none from the framework when it is cut short or ends
  -- without findings.
  local function watch_stdout()
    if watching then
      return
    end
    watching = true
    local methods = getmetatable(io.stdout).__index
    local file_write, plain_print, io_write = methods.write, print, io.write
    -- files the recipe opened on our stdout by name (io.output("/dev/stdout"))
    local on_stdout = setmetatable({}, { __mode = "k" })
    local stdout_names = { ["/dev/stdout"] = true, ["/dev/fd/1"] = true, ["/proc/self/fd/1"] = true }
    local function is_stdout(f)
      return f == io.stdout or on_stdout[f] ~= nil
    end
    local plain_open, plain_output = io.open, io.output
    io.open = function(name, ...) -- luacheck: ignore 122
      local f, err, code = plain_open(name, ...)
      if f and stdout_names[name] then
        on_stdout[f] = true
      end
      return f, err, code
    end
    io.output = function(file, ...) -- luacheck: ignore 122
      local f = plain_output(file, ...)
      if type(file) == "string" and stdout_names[file] then
        on_stdout[f] = true
      end
      return f
    end
    methods.write = function(f, ...)
      if active and is_stdout(f) then
        active.wrote = true
      end
      return file_write(f, ...)
    end
    print = function(...) -- luacheck: ignore 121
      if active then
        active.wrote = true
      end
      return plain_print(...)
    end
    io.write = function(...) -- luacheck: ignore 122
      if active and is_stdout(io.output()) then
        active.wrote = true
      end
      return io_write(...)
    end
    -- A shell command (os.execute) or a pipe the recipe writes to (io.popen
    -- with "w") runs a child whose stdout is ours.
    local plain_execute, plain_popen = os.execute, io.popen
    os.execute = function(...) -- luacheck: ignore 122
      if active and select("#", ...) > 0 then
        active.wrote = true
      end
      return plain_execute(...)
    end
    io.popen = function(cmd, mode, ...) -- luacheck: ignore 122
      if active and type(mode) == "string" and mode:find("w", 1, true) then
        active.wrote = true
      end
      return plain_popen(cmd, mode, ...)
    end
  end

  --- recipe.begin(file_name): the runner is about to run this recipe file.
  function recipe.begin(file_name)
    active = { name = (file_name:gsub("%.lua$", "")), started = cr.now(), inherited = cr._inherited() }
    watch_stdout()
  end

  -- Whether the recipe wrote to stdout itself, or ran a child on our terminal
  -- (cr.exec{inherit = true}) that may have.
  local function printed(run)
    return run.wrote or cr._inherited() > run.inherited
  end

  --- recipe.finish(): the recipe file's run is over; nothing is left to report.
  function recipe.finish()
    active = nil
  end

  local function stop_message(reason)
    return reason == "deadline" and "deadline expired" or "interrupted"
  end

  --- recipe.stopped(reason): called by the executable when --deadline
  --- ("deadline") or Ctrl-C ("sigint") cut the run short. Prints the report of
  --- the findings and checks so far, with no verdict, unless the recipe already
  --- printed something itself: --json always gives one document, and a
  --- recipe's own output is not followed by the framework's. Under --json a
  --- plain script gets the (empty) document too; the text report is only for
  --- a declared recipe whose run had started.
  function recipe.stopped(reason)
    local run = active
    active = nil
    if not run or printed(run) or not (cr.cli.json or run.ctx) then
      return
    end
    local ctx = run.ctx or { findings = {}, checks = {}, running = {} }
    local checks = table.move(ctx.checks, 1, #ctx.checks, 1, {})
    local unfinished = {}
    for c in pairs(ctx.running) do
      unfinished[#unfinished + 1] = c
    end
    table.sort(unfinished, function(a, b) return a.started < b.started end)
    local now = cr.now()
    for _, c in ipairs(unfinished) do
      checks[#checks + 1] = { name = c.name, ms = (now - c.started) * 1000, ok = false, unfinished = true,
        error = stop_message(reason) }
    end
    local partial = {
      recipe = run.name, target = ctx.target, findings = ctx.findings, checks = checks,
      elapsed_ms = (now - run.started) * 1000, interrupted = reason, ok = false,
      verbose = cr.cli.verbose, color = cr.cli.color,
    }
    if cr.cli.json then
      io.stdout:write(report.json(partial), "\n")
    elseif cr.cli.quiet then
      io.stdout:write(report.cut_short_line(reason), "\n")
    else
      io.stdout:write(report.text(partial))
    end
    io.stdout:flush()
  end

  -- The verdict of a finished run and its exit status: 1 when the verdict is
  -- an error (or, with no findings, when run returned false), else 0.
  local function conclude(ctx, returned_false)
    local verdict = ctx.verdict_id and find(ctx.findings, ctx.verdict_id) or default_verdict(ctx.findings)
    if ctx.verdict_id and not verdict then
      error(("ctx:verdict('%s'): no finding has that id"):format(ctx.verdict_id), 0)
    end
    local status = (verdict and verdict.severity == "error") and 1 or 0
    if not verdict and returned_false then
      status = 1
    end
    return verdict, status
  end

  -- Prints the report of a finished run and returns the exit status.
  local function render(r, ctx, returned_false)
    local verdict, status = conclude(ctx, returned_false)
    local run = {
      recipe = r.name, target = ctx.target, verdict = verdict and verdict.id, verdict_finding = verdict,
      findings = ctx.findings, checks = ctx.checks, elapsed_ms = (cr.now() - ctx.started) * 1000,
      verbose = cr.cli.verbose, color = cr.cli.color, ok = status == 0, returned_false = returned_false,
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
    return status
  end

  -- --json prints exactly one document. A recipe that printed to stdout itself
  -- (or ran a child on our terminal) has made its own: the framework adds
  -- none, and says on stderr that the findings it recorded are not shown. The
  -- exit status still follows the verdict.
  local function findings_left_out(r, ctx, returned_false)
    local _, status = conclude(ctx, returned_false)
    local n = #ctx.findings
    io.stdout:flush()
    io.stderr:write(("connrecipe: %s: the recipe printed to stdout itself under --json, so no document of its "
      .. "%d finding%s follows (--json prints one document); the exit status still follows %s\n")
      :format(r.name, n, n == 1 and "" or "s", n == 1 and "it" or "them"))
    return status
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
      recipe = r.name, args = args, findings = {}, checks = {}, running = {}, started = cr.now(),
      json = cr.cli.json, verbose = cr.cli.verbose, quiet = cr.cli.quiet,
      interactive = not cr.cli.json and not cr.cli.quiet and cr.cli.stderr_tty,
    }, Context)
    for _, p in ipairs(r.params) do
      if p.type == "target" and type(args[p.key]) == "table" then
        ctx.target = ctx.target or args[p.key]
      end
    end
    if active then
      active.name, active.ctx = r.name, ctx
    end
    local res = table.pack(r.run(ctx, args))
    local wrote = active and printed(active)
    local returned_false = res[1] == false
    -- `active` stays set while the report is built: a stop (--deadline, Ctrl-C)
    -- that lands before the report is written still gets recipe.stopped's
    -- document; once render has written, the write marks the run as printed.
    local status
    if math.type(res[1]) == "integer" then
      status = res[1] -- the recipe printed its own output
    elseif cr.cli.json and wrote then
      if #ctx.findings > 0 then
        status = findings_left_out(r, ctx, returned_false)
      end
    elseif #ctx.findings > 0 or cr.cli.json then
      -- --json prints one document, also of a run that found nothing to say
      status = render(r, ctx, returned_false)
    elseif cr.cli.verbose and not cr.cli.quiet and not wrote then
      -- -v shows the checks that ran, also when they found nothing to say
      status = render(r, ctx, returned_false)
    end
    active = nil
    if status == nil then
      status = returned_false and 1 or 0
    end
    return status
  end

  cr.recipe = recipe.declare
  cr._recipe = recipe
end
