-- --format nagios: the monitoring plugin guidelines (Nagios, Icinga, Sensu).
-- One status line "CONNRECIPE STATE - headline | perfdata", the other
-- findings as long output lines, and the state as the exit status:
-- 0 OK, 1 WARNING (a warn verdict), 2 CRITICAL (an error verdict, or a run
-- that says it failed), 3 UNKNOWN (the recipe could not run, or was cut short).
local formats = require "connrecipe.formats"

local nagios = {}

local OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
local names = { [OK] = "OK", [WARNING] = "WARNING", [CRITICAL] = "CRITICAL", [UNKNOWN] = "UNKNOWN" }

--- nagios.state(run) -> 0, 1, 2 or 3
function nagios.state(run)
  if run.failure or run.interrupted or run.status > 1 then
    return UNKNOWN
  end
  local sev = run.verdict and run.verdict.severity
  local state = sev == "error" and CRITICAL or sev == "warn" and WARNING or OK
  if run.status ~= 0 and state < CRITICAL then -- the run said it found a problem
    state = CRITICAL
  end
  return state
end

-- "|" separates the text from the performance data
local function plain(s)
  return (formats.one_line(s):gsub("|", "/"))
end

-- a number as perfdata takes it: digits, a point, a minus; never an exponent
local function number(v)
  if math.type(v) == "integer" then
    return tostring(v)
  end
  if v ~= v or v == math.huge or v == -math.huge then
    return "U"
  end
  return (("%.6f"):format(v):gsub("0+$", ""):gsub("%.$", ""))
end

-- 'label'=value[UOM];warn;crit;min;max (labels may not hold = or ')
local function perf(label, value, uom, min)
  label = label:gsub("[='|]", "_")
  if label:find("[%s]") then
    label = "'" .. label .. "'"
  end
  return ("%s=%s%s;;;%s"):format(label, number(value), uom or "", min or "")
end

local function perfdata(run)
  local n = formats.severity_counts(run.findings)
  local out = { perf("time", run.elapsed, "s", 0), perf("errors", n.error, "", 0), perf("warnings", n.warn, "", 0) }
  for _, m in ipairs(run.metrics) do
    out[#out + 1] = perf(m.name, m.value, m.unit == "seconds" and "s" or "")
  end
  return table.concat(out, " ")
end

local function headline(run)
  if run.failure then
    return ("%s: %s"):format(run.recipe, run.failure)
  end
  return run.headline
end

function nagios.render(run)
  local state = nagios.state(run)
  local lines = { ("CONNRECIPE %s - %s | %s"):format(names[state], plain(headline(run)), perfdata(run)) }
  for _, f in ipairs(run.findings) do -- the long output, which Nagios shows under the status line
    lines[#lines + 1] = plain(("[%s] %s: %s"):format(f.severity, f.id, f.summary))
    if f.fix then
      lines[#lines + 1] = plain("  fix: " .. f.fix)
    end
  end
  return table.concat(lines, "\n") .. "\n", state
end

return nagios
