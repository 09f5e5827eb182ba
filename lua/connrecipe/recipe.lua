-- The recipe framework: cr.recipe{...} declares a playbook, execute() parses
-- its arguments, runs it with a context that records checks and findings,
-- and has connrecipe.output render what it returned and found. See
-- docs/recipes.md.
local params = require "connrecipe.params"
local cr = require "connrecipe"
local output = require "connrecipe.output"
local formats = require "connrecipe.formats"

-- Called once by the module loader: cr.recipe and cr._recipe (for the runner).
return function()
  local recipe = {}
  local recipe_mt = { __name = "connrecipe.recipe" }
  local Context = {}
  Context.__index = Context

  --- cr.recipe{name, description, params = {...}, run = function(ctx, args), text = function(data, ctx)
  ---            [, json = ..., metrics = ..., summary = function(data, ctx)]}
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
    for _, renderer in ipairs { "text", "json", "metrics", "summary" } do -- how its data reads (see connrecipe.output)
      if decl[renderer] ~= nil and type(decl[renderer]) ~= "function" then
        error(("cr.recipe: '%s' must be a function(data, ctx) returning %s"):format(renderer,
          renderer == "metrics" and "a list of {name, value}" or renderer == "summary" and "one line" or "text"),
          2)
      end
      r[renderer] = decl[renderer]
    end
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
    elseif res[2] == nil and type(res[3]) == "string" then
      entry.failure = res[3] -- fn returned nil, message [, code]: shown by -v and --json
      entry.code = type(res[4]) == "string" and res[4] or nil -- kept for the checks to decide on
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

  -- the progress line fits the terminal: a wrapped line cannot be rewritten
  local function fitted(line)
    local width = math.tointeger(tonumber(os.getenv("COLUMNS") or "")) or 80
    return utf8.len(line) and utf8.len(line) >= width and line:sub(1, utf8.offset(line, width) - 1) or line
  end

  --- ctx:progress(fmt, ...): the progress line on stderr, rewritten in place
  --- each call; only on a terminal, and neither under -q nor another
  --- --format than text (ctx.interactive). ctx:progress() clears it; the
  --- framework clears it before it writes the run's output.
  function Context:progress(fmt, ...)
    if not self.interactive then
      return
    elseif fmt == nil then
      if self.progress_shown then
        io.stderr:write("\r\27[K")
        io.stderr:flush()
        self.progress_shown = false
      end
      return
    end
    -- names in it may hold control bytes
    io.stderr:write("\r", fitted(cr.text.escape(fmt:format(...))), "\27[K")
    io.stderr:flush()
    self.progress_shown = true
  end

  --- ctx:output(data): shows the data now, rendered by the framework (text by
  --- the declaration's `text`, or --json), before run returns: waitfor shows
  --- the target is up before it runs the command. Once per run; returning
  --- data from run does the same at the end.
  function Context:output(data)
    if type(data) ~= "table" then
      error("ctx:output: expected a table of data, got " .. type(data), 2)
    end
    if self.shown then
      error("ctx:output: the run's data was already shown (once per run)", 2)
    end
    self.shown = { findings = #self.findings }
    if self.calling then -- a recipe called as a function: the data is the caller's
      self.data = data
      return
    end
    self:progress()
    output.data(self._recipe, self, data)
  end

  -- ---- the run in progress, for a run cut short -----------------------------------

  -- What the runner is running: {name, started, ctx (once the recipe runs),
  -- stdout (what stdout_mark said at the start)}. When --deadline or Ctrl-C
  -- cuts it short, recipe.stopped() prints the report (text or --json) of what
  -- it found so far.
  local active

  -- How much has gone to stdout: the bytes through the C stream stdout that
  -- print, io.write and io.stdout:write use (counted in C by the executable,
  -- src/cli/counted_stdout.c: no Lua function is replaced), fd 1's offset and
  -- size when it is a regular file (children and files opened on /dev/stdout
  -- move them), and the children started on our terminal (cr.exec{inherit =
  -- true}).
  local function stdout_mark()
    local mark = { inherited = cr._inherited() }
    if cr._stdout_written then
      mark.written, mark.offset, mark.size = cr._stdout_written()
    end
    return mark
  end

  --- recipe.begin(file_name): the runner is about to run this recipe file.
  function recipe.begin(file_name)
    active = { name = (file_name:gsub("%.lua$", "")), started = cr.now(), stdout = stdout_mark() }
  end

  -- Whether the recipe wrote to stdout itself since it started, or ran a
  -- child on our terminal that may have: a recipe that printed its own
  -- document or report (or anything else) gets none from the framework when
  -- it is cut short or ends without findings.
  local function printed(run)
    local before, now = run.stdout, stdout_mark()
    for _, k in ipairs { "inherited", "written", "offset", "size" } do
      if now[k] and before[k] and now[k] ~= before[k] then
        return true
      end
    end
    return false
  end

  --- recipe.finish(): the recipe file's run is over; nothing is left to report.
  function recipe.finish()
    active = nil
  end

  --- recipe.stopped(reason): called by the executable when --deadline
  --- ("deadline") or Ctrl-C ("sigint") cut the run short. Prints the report of
  --- the findings and checks so far, with no verdict, unless the recipe (or
  --- the framework, for its data) already printed something: --json always
  --- gives one document, and a recipe's own output is not followed by the
  --- framework's. Under --json a plain script gets the (empty) document too;
  --- the text report is only for a declared recipe whose run had started.
  function recipe.stopped(reason)
    local run = active
    active = nil
    if run and run.ctx then
      run.ctx:progress()
    end
    if not run or printed(run) or not (cr.cli.json or run.ctx) then
      return
    end
    output.cut_short(run, reason)
  end

  -- After data was shown: in text the report of any findings follows it;
  -- under --json they were in the document, but those recorded later cannot
  -- be. The exit status: the one run returned, else the verdict's.
  local function after_data(r, ctx, outcome)
    local _, verdict_status = output.conclude(ctx, false)
    local later = #ctx.findings - ctx.shown.findings
    if cr.cli.json then
      if later > 0 then
        output.late_findings(r, later)
      end
    elseif #ctx.findings > 0 then
      output.report(r, ctx, false)
    end
    return outcome.status or verdict_status
  end

  -- Under --format nagios, junit, tap or prometheus: the run, written once
  -- it is over (data shown mid-run waits for it), and the exit status.
  local function finish_formatted(r, ctx, outcome)
    if outcome.own and outcome.status > 1 and #ctx.findings == 0 and not ctx.shown then
      return output.failure(r.name, ("the recipe failed with exit status %d"):format(outcome.status), outcome.status)
    end
    if not ctx.shown and active and printed(active) then -- its own output already broke the document
      output.left_out(r, #ctx.findings)
      local _, status = output.conclude(ctx, outcome.returned_false)
      return outcome.status or status
    end
    return output.formatted(r, ctx, outcome.status, outcome.returned_false)
  end

  -- What the framework writes once run has returned, and the exit status.
  local function finish_run(r, ctx, outcome)
    if outcome.message then
      return output.failure(r.name, outcome.message, outcome.status)
    elseif outcome.data then
      if ctx.shown then
        error(r.name .. ": run returned data after ctx:output had shown it", 0)
      end
      ctx:output(outcome.data)
    end
    if formats.is_machine() then
      return finish_formatted(r, ctx, outcome)
    elseif ctx.shown then
      return after_data(r, ctx, outcome)
    elseif outcome.own then
      return outcome.status -- the recipe printed its own output
    end
    local wrote = active and printed(active)
    local returned_false = outcome.returned_false
    if cr.cli.json and wrote then
      if #ctx.findings > 0 then
        output.left_out(r, #ctx.findings)
        local _, status = output.conclude(ctx, returned_false)
        return status
      end
    elseif #ctx.findings > 0 or cr.cli.json then
      -- --json prints one document, also of a run that found nothing to say
      return output.report(r, ctx, returned_false)
    elseif cr.cli.verbose and not cr.cli.quiet and not wrote then
      -- -v shows the checks that ran, also when they found nothing to say
      return output.report(r, ctx, returned_false)
    end
    return returned_false and 1 or 0
  end

  -- The context of one run of r with the parsed args; `mode` has its
  -- json, verbose, quiet, interactive and calling fields.
  local function new_context(r, args, mode)
    local ctx = setmetatable({
      recipe = r.name, args = args, findings = {}, checks = {}, running = {}, started = cr.now(), _recipe = r,
    }, Context)
    for k, v in pairs(mode) do
      ctx[k] = v
    end
    for _, p in ipairs(r.params) do
      local v = args[p.key]
      if p.type == "target" and type(v) == "table" then
        -- several targets (a `many` parameter) have no one target to name
        ctx.target = ctx.target or (not p.many and v) or (#v == 1 and v[1]) or nil
      end
    end
    return ctx
  end

  --- recipe.call(r, args) -> ctx, outcome: runs a declared recipe with parsed
  --- args as a function call (connrecipe.recipecall) in the current task:
  --- nothing is written, data given to ctx:output is kept as ctx.data, a
  --- usage error raises, and the run in progress (for a stop) stays the
  --- caller's.
  function recipe.call(r, args)
    local ctx = new_context(r, args, { json = false, format = "text", verbose = false, quiet = false,
      interactive = false, calling = true })
    return ctx, output.outcome(table.pack(r.run(ctx, args)))
  end

  --- Runs a declared recipe with its command-line arguments; returns the exit status.
  function recipe.execute(r, file_name, argv)
    r.name = r.name or file_name:gsub("%.lua$", "")
    local args, err = params.parse(r.params, r.by_name, argv)
    if args == "help" then
      return output.help(params.help(r.name, r.description, r.params))
    elseif not args then
      return output.usage_error(r.name, err)
    end
    local ctx = new_context(r, args, {
      json = cr.cli.json, format = formats.current(), verbose = cr.cli.verbose, quiet = cr.cli.quiet,
      interactive = formats.current() == "text" and not cr.cli.quiet and cr.cli.stderr_tty,
    })
    if active then
      active.name, active.ctx = r.name, ctx
    end
    local outcome = output.outcome(table.pack(r.run(ctx, args)))
    ctx:progress() -- the run is over: its progress line goes before its output
    -- `active` stays set while the output is written: a stop (--deadline,
    -- Ctrl-C) that lands before it is written still gets recipe.stopped's
    -- document; once written, the write marks the run as printed.
    local status = finish_run(r, ctx, outcome)
    active = nil
    return status
  end

  cr.recipe = recipe.declare
  cr._recipe = recipe
end
