-- The formats for monitoring and CI (--format nagios|junit|tap|prometheus):
-- which one the command line asked for, the run they all render (findings,
-- checks, data, exit status, or the failure), and writing it. Each format is
-- one file in formats/, a pure function from that run to text; see
-- docs/integrations.md. Text and JSON are connrecipe.output's own.
local cr = require "connrecipe"

local formats = {}

-- written once the run is over: they say its exit status, and are one document
local machine = { nagios = true, junit = true, tap = true, prometheus = true }

--- formats.current() -> "text", "json", "nagios", "junit", "tap" or "prometheus"
function formats.current()
  local cli = cr.cli or {}
  return cli.format or (cli.json and "json") or "text"
end

--- formats.is_machine() -> whether the format is one of this module's
function formats.is_machine()
  return machine[formats.current()] == true
end

--- formats.one_line(s) -> s as one line of plain text: colours dropped,
--- line breaks as spaces, every other control byte and invalid UTF-8 shown
--- by cr.text.escape (a headline comes from a recipe's text, a summary from
--- what a server or a process said).
function formats.one_line(s)
  s = tostring(s):gsub("\27%[[%d;]*m", ""):gsub("\r?\n", " ")
  return cr.text.escape(s)
end

-- The numbers of a recipe's data, when it declares no `metrics`: every
-- top-level number, boolean (1 or 0) and list (how many items), by key.
local function default_metrics(data)
  local out = {}
  for k, v in pairs(data) do
    if type(k) == "string" then
      local value
      if type(v) == "number" then
        value = v
      elseif type(v) == "boolean" then
        value = v and 1 or 0
      elseif type(v) == "table" and (#v > 0 or getmetatable(v)) then
        value = #v
      end
      if value then
        out[#out + 1] = { name = k, value = value, help = ("%s in the recipe's data"):format(k) }
      end
    end
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

local function checked_metrics(r, list)
  if type(list) ~= "table" then
    error(("%s: its metrics renderer returned a %s, not a list of {name, value}"):format(r.name, type(list)), 0)
  end
  for _, m in ipairs(list) do
    if type(m) ~= "table" or type(m.name) ~= "string" or not m.name:match("^[%a_][%w_]*$")
      or type(m.value) ~= "number" then
      error(("%s: each metric must be {name = 'snake_case', value = number [, help, unit]}"):format(r.name), 0)
    end
  end
  return list
end

--- formats.metrics(r, ctx, data) -> the numbers of the data:
--- {{name, value, help [, unit]}}, by r.metrics(data, ctx) or by default.
function formats.metrics(r, ctx, data)
  if r.metrics then
    return checked_metrics(r, r.metrics(data, ctx))
  end
  return default_metrics(data)
end

--- formats.write(run) -> exit status: renders run with the current format's
--- module and writes it on stdout. run = {recipe, target, verdict, findings
--- (ordered), checks, elapsed, time, status, headline, metrics, failure,
--- interrupted}; the module may return the exit status (nagios does).
function formats.write(run)
  run.time = run.time or os.time()
  run.findings = run.findings or {}
  run.checks = run.checks or {}
  run.metrics = run.metrics or {}
  run.headline = formats.one_line(run.headline or "")
  run.hostname = run.hostname or formats.hostname()
  local renderer = require("connrecipe.formats." .. formats.current())
  local text, status = renderer.render(run)
  io.stdout:write(text)
  io.stdout:flush()
  return status or run.status
end

--- formats.hostname() -> this host's name (the kernel's), or "localhost"
function formats.hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local name = f and f:read("l")
  if f then
    f:close()
  end
  return name and name ~= "" and name or "localhost"
end

--- formats.severity_counts(findings) -> {error = n, warn = n, info = n, ok = n}
function formats.severity_counts(findings)
  local n = { error = 0, warn = 0, info = 0, ok = 0 }
  for _, f in ipairs(findings) do
    n[f.severity] = n[f.severity] + 1
  end
  return n
end

--- formats.evidence_lines(finding) -> its evidence as a list of strings
function formats.evidence_lines(f)
  local report = require "connrecipe.report"
  local value = report.evidence(f.evidence)
  local lines = {}
  local function scalar(v)
    return type(v) == "table" and require("connrecipe.json").encode(v) or tostring(v)
  end
  if type(value) ~= "table" then
    if value ~= nil then
      lines[1] = scalar(value)
    end
    return lines
  end
  for _, item in ipairs(value) do
    lines[#lines + 1] = scalar(item)
  end
  local keys = {}
  for k in pairs(value) do
    if type(k) == "string" then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do
    lines[#lines + 1] = ("%s: %s"):format(k, scalar(value[k]))
  end
  return lines
end

return formats
