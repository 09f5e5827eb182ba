-- --format tap: TAP version 13 (prove, tap-junit, CI test reporters). A test
-- point per check (ctx:check: not ok when it raised), then one per finding
-- (not ok for an error finding), each with a YAML block of its details; a
-- run that recorded no finding gets one for its result (not ok when the exit
-- status is not 0). A recipe that could not run, or a run cut short, ends
-- with "Bail out!".
local formats = require "connrecipe.formats"

local tap = {}

-- a test point's description: one line; "#" would start a directive
local function description(s)
  return (formats.one_line(s):gsub("\\", "\\\\"):gsub("#", "\\#"))
end

-- a YAML double-quoted scalar; ": " written as ":\x20", the same in YAML,
-- because TAP::Parser's YAMLish reads "- a: b" as a map even in quotes
local function scalar(v)
  if type(v) == "number" or type(v) == "boolean" then
    return tostring(v)
  end
  return '"' .. formats.one_line(v):gsub('[\\"]', "\\%0"):gsub(": ", ":\\x20") .. '"'
end

local function yaml_block(fields, out)
  out[#out + 1] = "  ---"
  for _, kv in ipairs(fields) do
    local k, v = kv[1], kv[2]
    if type(v) == "table" then
      out[#out + 1] = ("  %s:"):format(k)
      for _, item in ipairs(v) do
        out[#out + 1] = "    - " .. scalar(item)
      end
    elseif v ~= nil then
      out[#out + 1] = ("  %s: %s"):format(k, scalar(v))
    end
  end
  out[#out + 1] = "  ..."
end

-- {ok, description, fields}
local function points(run)
  local list = {}
  for _, c in ipairs(run.checks) do
    list[#list + 1] = { ok = c.ok, text = "check: " .. c.name,
      fields = { { "duration_ms", tonumber(("%.3f"):format(c.ms)) }, { "error", c.error },
        { "unfinished", c.unfinished or nil } } }
  end
  for _, f in ipairs(run.findings) do
    local evidence = formats.evidence_lines(f)
    list[#list + 1] = { ok = f.severity ~= "error", text = ("%s: %s"):format(f.id, f.summary),
      fields = { { "severity", f.severity }, { "evidence", #evidence > 0 and evidence or nil }, { "fix", f.fix },
        { "verdict", run.verdict == f or nil } } }
  end
  if #run.findings == 0 and not run.interrupted then -- its outcome is the result (never an empty plan)
    list[#list + 1] = { ok = run.status == 0, text = "result: " .. run.headline,
      fields = { { "exit_status", run.status }, { "duration_ms", tonumber(("%.3f"):format(run.elapsed * 1000)) } } }
  end
  return list
end

function tap.render(run)
  local out = { "TAP version 13" }
  if run.failure then
    out[#out + 1] = "Bail out! " .. formats.one_line(run.headline)
    return table.concat(out, "\n") .. "\n"
  end
  local list = points(run)
  if not run.interrupted then
    out[#out + 1] = "1.." .. #list
  end
  for i, p in ipairs(list) do
    out[#out + 1] = ("%s %d - %s"):format(p.ok and "ok" or "not ok", i, description(p.text))
    yaml_block(p.fields, out)
  end
  if run.interrupted then
    out[#out + 1] = "Bail out! " .. (run.interrupted == "deadline"
      and "the deadline expired before the recipe finished" or "interrupted (Ctrl-C) before the recipe finished")
  end
  return table.concat(out, "\n") .. "\n"
end

return tap
