-- Rendering a recipe's findings: a text report for people (colour only when
-- cr.cli.color says so) and one JSON document for --json.
-- dkjson is loaded on first use: most runs of the executable never print JSON
local json = setmetatable({}, { __index = function(t, k)
  local mod = require "connrecipe.json"
  setmetatable(t, { __index = mod })
  return mod[k]
end })

-- Every string from the findings is escaped for the terminal (cr.text.escape):
-- summaries and evidence quote process names, paths and host names other
-- users chose. JSON carries them exactly.
local escape = require("connrecipe.text").escape

local report = {}

report.severity_rank = { error = 4, warn = 3, info = 2, ok = 1 }

local colours = { error = "\27[31m", warn = "\27[33m", info = "\27[36m", ok = "\27[32m" }
local bold, reset = "\27[1m", "\27[0m"

--- Findings ordered for reading: the verdict first, then by severity, then as recorded.
function report.ordered(findings, verdict)
  local list = {}
  for i, f in ipairs(findings) do
    list[i] = { f = f, i = i }
  end
  table.sort(list, function(a, b)
    local av, bv = a.f.id == verdict, b.f.id == verdict
    if av ~= bv then
      return av
    end
    local ar, br = report.severity_rank[a.f.severity], report.severity_rank[b.f.severity]
    if ar ~= br then
      return ar > br
    end
    return a.i < b.i
  end)
  for i, e in ipairs(list) do
    list[i] = e.f
  end
  return list
end

local function scalar(v)
  if type(v) == "table" then
    return escape(json.encode(v))
  end
  return escape(v)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) == "string" then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  return keys
end

--- report.evidence(evidence) -> value, is_array: what both reports show of a
--- finding's evidence. A table's positive integer keys are its lines, in
--- order, with nil holes left out ({a, cond and b, c} is two lines when cond
--- fails; the text report used to stop at the first hole while JSON showed
--- nulls). Its other keys are a map, by their string form. Lines alone are a
--- JSON array; with keys, an object that has the lines under "1", "2", ...
function report.evidence(evidence)
  if type(evidence) ~= "table" then
    return evidence, false
  end
  local indexes, map, has_keys = {}, {}, false
  for k, v in pairs(evidence) do
    if math.type(k) == "integer" and k >= 1 then
      indexes[#indexes + 1] = k
    else
      map[tostring(k)] = v
      has_keys = true
    end
  end
  table.sort(indexes)
  local lines = {}
  for i, k in ipairs(indexes) do
    lines[i] = evidence[k]
  end
  if not has_keys then
    return lines, true
  end
  table.move(lines, 1, #lines, 1, map)
  return map, false
end

local function evidence_lines(evidence, out)
  evidence = report.evidence(evidence)
  if type(evidence) ~= "table" then
    if evidence ~= nil then
      out[#out + 1] = "    " .. scalar(evidence)
    end
    return
  end
  for _, item in ipairs(evidence) do
    out[#out + 1] = "    - " .. scalar(item)
  end
  for _, k in ipairs(sorted_keys(evidence)) do
    out[#out + 1] = ("    %s: %s"):format(escape(k), scalar(evidence[k]))
  end
end

local function paint(colour, text, use_colour)
  return use_colour and (colour .. text .. reset) or text
end

-- The last line of the text report of a run cut short, by run.interrupted.
local cut_short_lines = {
  deadline = "CUT SHORT: the deadline expired before the recipe finished; no verdict",
  sigint = "CUT SHORT: interrupted (Ctrl-C) before the recipe finished; no verdict",
}

--- report.cut_short_line(reason) -> the line that ends the text report of a
--- run cut short by "deadline" or "sigint"
function report.cut_short_line(reason)
  return cut_short_lines[reason] or cut_short_lines.sigint
end

--- report.text(run) -> string; run = {recipe, target_display, verdict, findings, checks, verbose, color,
--- interrupted}. A run cut short (interrupted = "deadline" or "sigint") has no
--- headline: its findings, every check (those still running marked
--- unfinished), then a line saying it was cut short with no verdict. A
--- finished run with no findings (rendered only with -v) shows its checks,
--- then "no findings".
function report.text(run)
  local out = {}
  local verdict = run.verdict_finding
  if run.interrupted then
    verdict = nil
  end
  if verdict then
    out[#out + 1] = paint(bold .. colours[verdict.severity],
      ("%s: %s"):format(verdict.severity:upper(), escape(verdict.summary)), run.color)
    out[#out + 1] = ""
  end
  for _, f in ipairs(report.ordered(run.findings, run.verdict)) do
    local tag = paint(colours[f.severity], "[" .. f.severity .. "]", run.color)
    out[#out + 1] = ("%s %s: %s"):format(tag, escape(f.id), escape(f.summary))
    evidence_lines(f.evidence, out)
    if f.fix then
      local first = true
      for line in (f.fix .. "\n"):gmatch("(.-)\n") do
        out[#out + 1] = (first and "  fix: " or "       ") .. escape(line)
        first = false
      end
    end
  end
  if (run.verbose or run.interrupted) and #run.checks > 0 then
    if #out > 0 then
      out[#out + 1] = ""
    end
    out[#out + 1] = "checks:"
    local width = 0
    for _, c in ipairs(run.checks) do
      width = math.max(width, #escape(c.name))
    end
    for _, c in ipairs(run.checks) do
      local state = c.unfinished and "unfinished" .. (c.error and (": " .. c.error) or "")
        or not c.ok and "FAILED: " .. tostring(c.error)
        or c.failure and ("no result: %s%s"):format(c.failure, c.code and (" (" .. c.code .. ")") or "") or "ok"
      out[#out + 1] = ("  %-" .. width .. "s %8.2f ms  %s"):format(escape(c.name), c.ms, escape(state))
    end
    out[#out + 1] = ("elapsed %.1f ms"):format(run.elapsed_ms)
  end
  if run.interrupted then
    if #out > 0 then
      out[#out + 1] = ""
    end
    out[#out + 1] = paint(bold, report.cut_short_line(run.interrupted), run.color)
  elseif #run.findings == 0 then
    -- a finished run with nothing to say: rendered only with -v, after its checks
    if #run.checks == 0 then
      out[#out + 1] = "checks: none"
      out[#out + 1] = ("elapsed %.1f ms"):format(run.elapsed_ms)
    end
    out[#out + 1] = ""
    out[#out + 1] = run.returned_false and "no findings; the recipe reported failure" or "no findings"
  end
  return table.concat(out, "\n") .. "\n"
end

local function evidence_json(evidence)
  if evidence == nil then
    return json.null
  end
  local value, is_array = report.evidence(evidence)
  return is_array and json.array(value) or value
end

--- report.document(run) -> the one JSON document of --json, as a table
function report.document(run)
  local findings = json.array()
  for _, f in ipairs(report.ordered(run.findings, run.verdict)) do
    findings[#findings + 1] = {
      id = f.id, severity = f.severity, summary = f.summary,
      evidence = evidence_json(f.evidence),
      fix = f.fix == nil and json.null or f.fix,
    }
  end
  local checks = json.array()
  for _, c in ipairs(run.checks) do
    checks[#checks + 1] = { name = c.name, ms = c.ms, ok = c.ok, error = c.error, failure = c.failure, code = c.code }
  end
  return {
    schema = 1,
    recipe = run.recipe,
    target = run.target or json.null,
    verdict = run.verdict or json.null,
    findings = findings,
    checks = checks,
    elapsed_ms = run.elapsed_ms,
    ok = run.ok, -- true exactly when the exit status is 0
    interrupted = run.interrupted, -- "deadline" or "sigint" when the run was cut short, else absent
  }
end

--- report.json(run) -> the one JSON document of --json
function report.json(run)
  return json.encode(report.document(run))
end

return report
