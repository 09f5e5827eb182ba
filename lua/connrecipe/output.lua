-- The output model (docs/architecture.md#output): a recipe's run returns data
-- and records findings; this is where they become text, the one --json
-- document or one of the formats for monitoring and CI (connrecipe.formats),
-- and the only place a declared recipe's results are written.
-- Recipes declare how their data reads as text (`text`), never print it.
local report = require "connrecipe.report"
local formats = require "connrecipe.formats"

-- loaded on first use: most runs never print JSON or pretty-print data
local function json()
  return require "connrecipe.json"
end

local cr = require "connrecipe"

local output = {}

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

--- output.conclude(ctx, returned_false) -> verdict finding, exit status: 1
--- when the verdict is an error (or, with no findings, when run returned
--- false), else 0.
function output.conclude(ctx, returned_false)
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

--- output.outcome(results) -> what run's results say, by their shape:
---   data [, status]        {data, status}: the framework renders data
---   nil, message [, status] {message, status}: a one-line failure on stderr
---   status (an integer)    {status, own = true}: the recipe printed its own output
---   false                  {returned_false = true}
---   nothing, true          {}
function output.outcome(res)
  local first = res[1]
  if type(first) == "table" then
    return { data = first, status = math.tointeger(res[2]) }
  elseif first == nil and type(res[2]) == "string" then
    return { message = res[2], status = math.tointeger(res[3]) or 1 }
  elseif math.type(first) == "integer" then
    return { status = first, own = true }
  end
  return { returned_false = first == false }
end

-- The table report.text and report.document render.
local function report_run(r, ctx, returned_false)
  local verdict, status = output.conclude(ctx, returned_false)
  return {
    recipe = r.name, target = ctx.target, verdict = verdict and verdict.id, verdict_finding = verdict,
    findings = ctx.findings, checks = ctx.checks, elapsed_ms = (cr.now() - ctx.started) * 1000,
    verbose = cr.cli.verbose, color = cr.cli.color, ok = status == 0, returned_false = returned_false,
  }, status
end

--- output.report(r, ctx, returned_false) -> exit status: writes the report
--- of the findings (text, or the --json document).
function output.report(r, ctx, returned_false)
  local run, status = report_run(r, ctx, returned_false)
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

-- keys of the report's document that data merged into it cannot take over
local report_keys = { schema = true, verdict = true, findings = true, checks = true, elapsed_ms = true, ok = true,
  interrupted = true }

--- output.document(r, ctx, data, returned_false) -> the --json document of
--- a run as a table: the report's keys when it recorded findings or checks
--- (or returned no data), with the keys of its data and "recipe".
function output.document(r, ctx, data, returned_false)
  local with_report = #ctx.findings > 0 or #ctx.checks > 0 or data == nil
  if r.json and data ~= nil and not with_report then
    return assert(json().decode(r.json(data, ctx)))
  end
  local doc = with_report and report.document((report_run(r, ctx, returned_false))) or {}
  for k, v in pairs(data or {}) do
    if with_report and report_keys[k] then
      error(("%s: its data has the key '%s', which the report's document uses"):format(r.name, tostring(k)), 0)
    end
    doc[k] = v
  end
  doc.recipe = r.name
  return doc
end

-- The --json document of data: its keys and "recipe"; with the report's
-- keys too when the run recorded findings or checks.
local function data_document(r, ctx, data)
  if r.json and #ctx.findings == 0 and #ctx.checks == 0 then
    return r.json(data, ctx)
  end
  return json().encode(output.document(r, ctx, data, false))
end

local function checked_text(r, what, v)
  if v ~= nil and type(v) ~= "string" then
    error(("%s: its text renderer returned a %s as the %s text, not a string"):format(r.name, type(v), what), 0)
  end
  return v
end

--- output.data(r, ctx, data): writes the data run returned (or passed to
--- ctx:output): the --json document, or the text r.text(data, ctx) returns
--- for stdout and, second, for stderr (the REPL's printer without one).
function output.data(r, ctx, data)
  if formats.is_machine() then
    ctx.shown_data = data -- rendered with the findings once the run is over (output.formatted)
    return
  end
  if cr.cli.json then
    io.stdout:write(checked_text(r, "JSON", data_document(r, ctx, data)), "\n")
    io.stdout:flush() -- before whatever the run does next (waitfor: a command on our stdout)
    return
  end
  local out, err
  if r.text then
    out, err = r.text(data, ctx)
    out, err = checked_text(r, "stdout", out), checked_text(r, "stderr", err)
  else
    out = require("connrecipe.pretty").format(data) .. "\n"
  end
  if out and out ~= "" then
    io.stdout:write(out)
  end
  io.stdout:flush() -- before stderr's text (in order on a terminal) and whatever the run does next
  if err and err ~= "" then
    io.stderr:write(err)
  end
end

-- The headline of a run without findings: what the declaration's summary
-- says of its data, else the first line of its text.
local function data_headline(r, ctx, data)
  if r.summary then
    return checked_text(r, "summary", r.summary(data, ctx)) or r.name
  end
  local out, err
  if r.text then
    out, err = r.text(data, ctx)
  end
  for _, text in ipairs { out or "", err or "" } do
    local line = text:match("[^\n]*%S[^\n]*")
    if line then
      return line
    end
  end
  return r.name .. ": done"
end

--- output.headline(r, ctx, verdict, status, data) -> the one line that heads
--- a run: the verdict's summary, else the headline of its data.
function output.headline(r, ctx, verdict, status, data)
  if verdict then
    return verdict.summary
  elseif data then
    return data_headline(r, ctx, data)
  end
  return status == 0 and "no findings" or "no findings; the recipe reported failure"
end

--- output.formatted(r, ctx, status, returned_false) -> exit status: writes
--- the run in the --format for monitoring or CI (connrecipe.formats): its
--- findings and checks, the data it showed, the exit status it would have.
function output.formatted(r, ctx, status, returned_false)
  local verdict, verdict_status = output.conclude(ctx, returned_false)
  status = status or verdict_status
  local data = ctx.shown_data
  return formats.write {
    recipe = r.name, target = ctx.target and ctx.target.display, verdict = verdict,
    findings = report.ordered(ctx.findings, verdict and verdict.id), checks = ctx.checks,
    elapsed = cr.now() - ctx.started, status = status, has_data = data ~= nil,
    headline = output.headline(r, ctx, verdict, status, data),
    metrics = data and formats.metrics(r, ctx, data) or {},
  }
end

local function plural(n)
  return n == 1 and "" or "s", n == 1 and "it" or "them"
end

--- output.left_out(r, n): under --json (or another --format than text), a recipe that printed to stdout
--- itself has made the one document; stderr says its n findings are not
--- shown (the exit status still follows them).
function output.left_out(r, n)
  local s, them = plural(n)
  io.stdout:flush()
  local flag = formats.current() == "json" and "--json" or "--format=" .. formats.current()
  io.stderr:write(("connrecipe: %s: the recipe printed to stdout itself under %s, so no document of its "
    .. "%d finding%s follows (%s prints one document); the exit status still follows %s\n")
    :format(r.name, flag, n, s, flag, them))
end

--- output.late_findings(r, n): under --json, n findings were recorded after
--- ctx:output wrote the document.
function output.late_findings(r, n)
  local s, them = plural(n)
  io.stdout:flush()
  io.stderr:write(("connrecipe: %s: %d finding%s recorded after its data was shown %s not in the document "
    .. "(--json prints one document); the exit status still follows %s\n")
    :format(r.name, n, s, n == 1 and "is" or "are", them))
end

--- output.failure(name, message, status) -> status: the one-line error of a
--- run that returned nil, message.
function output.failure(name, message, status)
  io.stdout:flush()
  -- the message may quote a path, a name or an argument: one line, escaped
  io.stderr:write(("connrecipe: %s: %s\n"):format(name, cr.text.escape(message)))
  if formats.is_machine() then -- the format says it too: an UNKNOWN status line, an <error>, "Bail out!"
    return formats.write { recipe = name, failure = message, status = status, elapsed = 0,
      headline = ("%s: %s"):format(name, message) }
  end
  return status
end

--- output.help(text) -> 0: a recipe's --help
function output.help(text)
  io.stdout:write(text)
  return 0
end

--- output.usage_message(name, message) -> "message (see 'connrecipe NAME --help')"
function output.usage_message(name, message)
  return ("%s (see 'connrecipe %s --help')"):format(message, name)
end

--- output.usage_error(name, message) -> 2
function output.usage_error(name, message)
  return output.failure(name, output.usage_message(name, message), 2)
end

local function stop_message(reason)
  return reason == "deadline" and "deadline expired" or "interrupted"
end

--- output.cut_short(run, reason): the report of a run cut short by
--- --deadline or Ctrl-C: its findings and checks so far (those still running
--- marked unfinished), with no verdict.
function output.cut_short(run, reason)
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
  if formats.is_machine() then
    formats.write {
      recipe = run.name, target = ctx.target and ctx.target.display, findings = report.ordered(ctx.findings),
      checks = checks, elapsed = now - run.started, interrupted = reason, status = reason == "deadline" and 3 or 130,
      headline = report.cut_short_line(reason), has_data = ctx.shown_data ~= nil,
      metrics = ctx.shown_data and formats.metrics(run.ctx._recipe, ctx, ctx.shown_data) or {},
    }
  elseif cr.cli.json then
    io.stdout:write(report.json(partial), "\n")
  elseif cr.cli.quiet then
    io.stdout:write(report.cut_short_line(reason), "\n")
  else
    io.stdout:write(report.text(partial))
  end
  io.stdout:flush()
end

return output
