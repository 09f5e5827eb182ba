-- --format prometheus: the text exposition format, for node_exporter's
-- textfile collector (and valid under `promtool check metrics`). Gauges of
-- the run, labelled with the recipe and its target: whether it ran to its
-- end, its exit status, the verdict, each finding (by id and severity, how
-- many), each check's duration and success, the run's duration and time,
-- and the numbers of the recipe's data as connrecipe_RECIPE_NAME.
local formats = require "connrecipe.formats"

local prometheus = {}

local severity_value = { ok = 0, info = 1, warn = 2, error = 3 }

local function label_value(s)
  s = formats.one_line(s) -- newlines would be escaped, but a label is one line
  return (s:gsub('[\\"]', "\\%0"))
end

local function help_text(s)
  return (formats.one_line(s):gsub("\\", "\\\\"))
end

local function value(v)
  if v ~= v then
    return "NaN"
  elseif v == math.huge then
    return "+Inf"
  elseif v == -math.huge then
    return "-Inf"
  elseif math.type(v) == "integer" then
    return tostring(v)
  end
  local short = ("%.15g"):format(v) -- the shortest that reads back as the same number
  return tonumber(short) == v and short or ("%.17g"):format(v)
end

-- A family: # HELP, # TYPE, then its samples, each {labels = {{k, v}}, value}.
local function family(out, name, help, samples)
  if #samples == 0 then
    return
  end
  out[#out + 1] = ("# HELP %s %s"):format(name, help_text(help))
  out[#out + 1] = ("# TYPE %s gauge"):format(name)
  for _, s in ipairs(samples) do
    local labels = {}
    for _, kv in ipairs(s.labels) do
      labels[#labels + 1] = ('%s="%s"'):format(kv[1], label_value(kv[2]))
    end
    out[#out + 1] = ("%s{%s} %s"):format(name, table.concat(labels, ","), value(s.value))
  end
end

-- the labels every sample has, and more
local function labels(run, ...)
  local list = { { "recipe", run.recipe } }
  if run.target then
    list[2] = { "target", run.target }
  end
  for _, kv in ipairs { ... } do
    list[#list + 1] = kv
  end
  return list
end

local function one(run, v)
  return { { labels = labels(run), value = v } }
end

-- how many findings of each id and severity (an id may be recorded twice)
local function finding_samples(run)
  local counts, order = {}, {}
  for _, f in ipairs(run.findings) do
    local key = f.id .. "\0" .. f.severity
    if not counts[key] then
      counts[key] = { labels = labels(run, { "id", f.id }, { "severity", f.severity }), value = 0 }
      order[#order + 1] = key
    end
    counts[key].value = counts[key].value + 1
  end
  local samples = {}
  for i, key in ipairs(order) do
    samples[i] = counts[key]
  end
  return samples
end

-- each check once: a name that repeats gets " #2", " #3", ... (a series must be unique)
local function check_names(run)
  local seen, names = {}, {}
  for i, c in ipairs(run.checks) do
    seen[c.name] = (seen[c.name] or 0) + 1
    names[i] = seen[c.name] == 1 and c.name or ("%s #%d"):format(c.name, seen[c.name])
  end
  return names
end

-- connrecipe_RECIPE_NAME; a gauge must not end as a counter, a summary or a
-- histogram does (promtool says so): such a name gets "_value"
local function metric_name(run, m)
  local name = ("connrecipe_%s_%s"):format(run.recipe:gsub("[^%w_]", "_"), m.name)
  for _, suffix in ipairs { "_total", "_count", "_sum", "_bucket" } do
    if name:sub(-#suffix) == suffix then
      return name .. "_value"
    end
  end
  return name
end

function prometheus.render(run)
  local out = {}
  family(out, "connrecipe_run_success", "Whether the recipe ran to its end (1) or failed or was cut short (0)",
    one(run, (run.failure or run.interrupted) and 0 or 1))
  family(out, "connrecipe_exit_status", "The exit status of connrecipe for this run", one(run, run.status))
  family(out, "connrecipe_verdict_severity",
    "Severity of the verdict: 0 ok or no finding, 1 info, 2 warn, 3 error",
    one(run, run.verdict and severity_value[run.verdict.severity] or 0))
  if run.verdict then
    family(out, "connrecipe_verdict", "The finding that heads the report (always 1)",
      { { labels = labels(run, { "id", run.verdict.id }, { "severity", run.verdict.severity }), value = 1 } })
  end
  family(out, "connrecipe_finding", "Findings of the run by id and severity: how many", finding_samples(run))
  local names, durations, successes = check_names(run), {}, {}
  for i, c in ipairs(run.checks) do
    durations[i] = { labels = labels(run, { "check", names[i] }), value = c.ms / 1000 }
    successes[i] = { labels = labels(run, { "check", names[i] }), value = c.ok and 1 or 0 }
  end
  family(out, "connrecipe_check_duration_seconds", "How long each check of the run took", durations)
  family(out, "connrecipe_check_success", "Whether each check ran without error (1) or not (0)", successes)
  family(out, "connrecipe_run_duration_seconds", "How long the run took", one(run, run.elapsed))
  family(out, "connrecipe_last_run_timestamp_seconds", "When the run ended, in seconds since the epoch",
    one(run, run.time))
  for _, m in ipairs(run.metrics) do
    family(out, metric_name(run, m), m.help or m.name, one(run, m.value))
  end
  return table.concat(out, "\n") .. "\n"
end

return prometheus
