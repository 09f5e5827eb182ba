-- Wait until every TARGET accepts connections (or none does), then optionally run a command.
-- As wait-for-it and dockerize; with --invert, until none accepts any more.
-- Exits 0 as soon as they all do, 1 when the timeout passes first; with
-- "-- CMD ARGS..." the command runs once they are up and its exit status
-- becomes connrecipe's ("--" alone is a usage error, exit 2: as with timeout(1),
-- a command was announced and is missing). SIGTERM and SIGINT sent to
-- connrecipe go on to the command, and connrecipe waits for its end: it is
-- never left running. Retries with backoff; progress on stderr on a
-- terminal: what each target said, the time elapsed and the next attempt.
-- wait-for-it's own command line is the wait-for-it mode (wait-for-it.lua).
local wait = require "connrecipe.wait"

-- "a:1: refused, b:2: timeout": the targets still waited for, and why.
local function still_waiting(states)
  local parts = {}
  for _, s in ipairs(states) do
    if not s.done then
      parts[#parts + 1] = ("%s: %s"):format(s.display, wait.why(s.last_status, s.detail)) -- ctx:progress escapes
    end
  end
  return table.concat(parts, ", ")
end

local function plural(n, word)
  return ("%d %s%s"):format(n, word, n == 1 and "" or "s")
end

-- One line per target: whether it came up (went down) and after how long.
local function target_line(t, data, timeout)
  t = setmetatable({ target = cr.text.escape(t.target) }, { __index = t }) -- a name from the user's input
  if data.invert then
    if t.reached then
      return ("%s is down after %.2f s (%s, last: %s)"):format(t.target, t.elapsed, plural(t.attempts, "attempt"),
        t.last_status)
    end
    return ("%s still accepts connections after %g s (%s)"):format(t.target, timeout, plural(t.attempts, "attempt"))
  elseif t.reached then
    return ("%s is up after %.2f s (%s)"):format(t.target, t.elapsed, plural(t.attempts, "attempt"))
  end
  return ("%s did not accept a connection within %g s (%s, last: %s)"):format(t.target, timeout,
    plural(t.attempts, "attempt"), t.last_status)
end

-- With several targets, the first line says how many came up (went down):
-- it is the headline of --format nagios and the other formats.
local function summary_line(data, timeout)
  local n, missing = #data.targets, 0
  for _, t in ipairs(data.targets) do
    missing = missing + (t.reached and 0 or 1)
  end
  if missing == 0 then
    return ("all %d targets are %s after %.2f s"):format(n, data.invert and "down" or "up", data.elapsed)
  elseif data.invert then
    return ("%d of %d targets still accept connections after %g s"):format(missing, n, timeout)
  end
  return ("%d of %d targets did not accept a connection within %g s"):format(missing, n, timeout)
end

-- The text: a line per target, after a summary when there are several. With
-- a command to run, stdout belongs to the command: the lines go to stderr.
local function text(data, ctx)
  if ctx.quiet then
    return nil
  end
  local lines = {}
  if #data.targets > 1 then
    lines[1] = summary_line(data, ctx.args.timeout) .. "\n"
  end
  for _, t in ipairs(data.targets) do
    lines[#lines + 1] = target_line(t, data, ctx.args.timeout) .. "\n"
  end
  if ctx.args.command then
    return nil, table.concat(lines)
  end
  return table.concat(lines)
end

local function run_command(command)
  local r, err, code = cr.exec { inherit = true, table.unpack(command) }
  if not r then
    return nil, err, code == "ENOENT" and 127 or 126 -- as a shell says it
  end
  return r.status
end

-- The run's data: the whole and each target.
local function summary(result, invert)
  local data = { up = true, reached = result.done, invert = invert, elapsed = result.elapsed, attempts = 0,
    targets = {} }
  local names = {}
  for i, s in ipairs(result.targets) do
    local up = s.last_status == "open"
    data.targets[i] = { target = s.display, up = up, reached = s.done, attempts = s.attempts,
      last_status = s.last_status, elapsed = s.elapsed }
    data.up = data.up and up
    data.attempts = data.attempts + s.attempts
    names[i] = s.display
  end
  data.target = table.concat(names, ", ")
  return data
end

return cr.recipe {
  name = "waitfor",
  description = "Wait until every TARGET accepts connections (or none does), then optionally run a command "
    .. "(wait-for-it, dockerize).",
  params = {
    { "target", type = "target", positional = true, many = true,
      help = "host:port, [v6]:port, PORT, URL, unix:/path; several: all of them" },
    { "timeout", type = "number", default = 30, min = 0, max = 86400 * 365, metavar = "S",
      help = "give up after S seconds (0: wait forever)" },
    { "interval", type = "number", default = 0.25, min = 0.01, metavar = "S",
      help = "first wait between attempts; it grows to 2 s" },
    { "invert", type = "boolean", help = "wait until the targets no longer accept connections" },
    { "command", type = "list", rest = true, metavar = "CMD",
      help = "run CMD once they are up; SIGTERM and SIGINT go on to it" },
  },
  run = function(ctx, o)
    local result = wait.run(o.target, {
      timeout = o.timeout, interval = o.interval, invert = o.invert,
      tick = ctx.interactive and 0.5 or nil, -- the progress line changes every half second
      on_wait = ctx.interactive and function(elapsed, next_in, states)
        ctx:progress("waiting for %s%s, %.1f s elapsed, next attempt in %.1f s", still_waiting(states),
          o.invert and " (to go down)" or "", elapsed, next_in)
      end or nil,
    })
    local data = summary(result, o.invert)
    if not result.done then
      return data, 1
    end
    ctx:output(data) -- shown before the command runs: its output follows ours
    if o.command then -- never empty: "--" with nothing after it is a usage error
      return run_command(o.command)
    end
    return 0
  end,
  text = text,
  metrics = function(data) -- the numbers of --format nagios and prometheus
    return {
      { name = "up", value = data.up and 1 or 0, help = "Whether every target accepted a connection (1) or not (0)" },
      { name = "attempts", value = data.attempts, help = "Connection attempts made" },
      { name = "wait_seconds", value = data.elapsed, unit = "seconds", help = "How long it waited" },
    }
  end,
}
