-- --format junit: JUnit XML as Jenkins (junit step) and GitLab
-- (artifacts:reports:junit) read it. One testsuite for the run; a testcase
-- per check (ctx:check: its time, an <error> if it raised), a testcase per
-- finding (a <failure> for each error finding; the others pass and say what
-- they found in <system-out>), and for a run that recorded no finding, a
-- testcase for its result (a <failure> when the exit status is not 0). A
-- recipe that could not run is one testcase with an <error>.
local formats = require "connrecipe.formats"
local cr = require "connrecipe"

local junit = {}

-- XML 1.0 text: control bytes and invalid UTF-8 shown by cr.text.escape
-- (lines kept), which leaves none of the characters XML cannot hold; then
-- the markup escaped
local function xml(s)
  s = cr.text.escape(tostring(s), true)
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
    ["'"] = "&apos;" }))
end

local function seconds(v)
  return ("%.6f"):format(v or 0)
end

local function finding_body(f)
  local lines = { f.summary }
  for _, l in ipairs(formats.evidence_lines(f)) do
    lines[#lines + 1] = "  " .. l
  end
  if f.fix then
    lines[#lines + 1] = "fix: " .. f.fix
  end
  return table.concat(lines, "\n")
end

-- {classname, name, time, failure = {message, type, body}, error = {...}, out}
local function testcases(run)
  local cases, class = {}, "connrecipe." .. run.recipe
  if run.failure then
    cases[1] = { classname = class, name = "run", time = run.elapsed,
      error = { type = "recipe-failed", message = run.failure, body = run.failure } }
    return cases
  end
  for _, c in ipairs(run.checks) do
    local case = { classname = class .. ".checks", name = c.name, time = c.ms / 1000 }
    if not c.ok then
      case.error = { type = c.unfinished and "unfinished" or "check-raised", message = c.error or "failed",
        body = c.error or "failed" }
    end
    cases[#cases + 1] = case
  end
  for _, f in ipairs(run.findings) do
    local case = { classname = class .. ".findings", name = f.id, time = 0 }
    if f.severity == "error" then
      case.failure = { type = f.id, message = f.summary, body = finding_body(f) }
    else
      case.out = ("[%s] %s"):format(f.severity, finding_body(f))
    end
    cases[#cases + 1] = case
  end
  if #run.findings == 0 and not run.interrupted then -- its outcome is the result (never an empty suite)
    local case = { classname = class, name = "result", time = run.elapsed, out = run.headline }
    if run.status ~= 0 then
      case.failure = { type = "exit-status", message = run.headline, body = ("exit status %d"):format(run.status) }
    end
    cases[#cases + 1] = case
  end
  if run.interrupted then
    local why = run.interrupted == "deadline" and "the deadline expired before the recipe finished"
      or "interrupted (Ctrl-C) before the recipe finished"
    cases[#cases + 1] = { classname = class, name = "run", time = run.elapsed,
      error = { type = "cut-short", message = why, body = why } }
  end
  return cases
end

local function case_xml(c, out)
  local head = ('    <testcase classname="%s" name="%s" time="%s"'):format(xml(c.classname), xml(c.name),
    seconds(c.time))
  local problem = c.failure and "failure" or c.error and "error"
  if not problem and not c.out then
    out[#out + 1] = head .. "/>"
    return
  end
  out[#out + 1] = head .. ">"
  if problem then
    local p = c.failure or c.error
    out[#out + 1] = ('      <%s type="%s" message="%s">%s</%s>'):format(problem, xml(p.type), xml(p.message),
      xml(p.body), problem)
  end
  if c.out then
    out[#out + 1] = ("      <system-out>%s</system-out>"):format(xml(c.out))
  end
  out[#out + 1] = "    </testcase>"
end

function junit.render(run)
  local cases = testcases(run)
  local failures, errors = 0, 0
  for _, c in ipairs(cases) do
    failures = failures + (c.failure and 1 or 0)
    errors = errors + (c.error and 1 or 0)
  end
  local suite = "connrecipe " .. run.recipe .. (run.target and (" " .. run.target) or "")
  local counts = ('tests="%d" failures="%d" errors="%d"'):format(#cases, failures, errors)
  local out = {
    '<?xml version="1.0" encoding="UTF-8"?>',
    ('<testsuites name="connrecipe" %s time="%s">'):format(counts, seconds(run.elapsed)),
    ('  <testsuite name="%s" %s skipped="0" time="%s" timestamp="%s" hostname="%s">'):format(xml(suite), counts,
      seconds(run.elapsed), os.date("!%Y-%m-%dT%H:%M:%S", run.time), xml(run.hostname or "localhost")),
    "    <properties>",
  }
  local props = { { "recipe", run.recipe }, { "target", run.target }, { "verdict", run.verdict and run.verdict.id },
    { "headline", run.headline }, { "exit_status", run.status } }
  for _, p in ipairs(props) do
    if p[2] ~= nil then
      out[#out + 1] = ('      <property name="%s" value="%s"/>'):format(p[1], xml(p[2]))
    end
  end
  out[#out + 1] = "    </properties>"
  for _, c in ipairs(cases) do
    case_xml(c, out)
  end
  out[#out + 1] = "  </testsuite>"
  out[#out + 1] = "</testsuites>"
  return table.concat(out, "\n") .. "\n"
end

return junit
