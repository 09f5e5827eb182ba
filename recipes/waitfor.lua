-- Wait until TARGET accepts connections, then optionally run a command (wait-for-it, dockerize).
-- Exits 0 as soon as the target accepts, 1 when the timeout passes first; with
-- "-- CMD ARGS..." the command runs once the target is up and its exit status
-- becomes connrecipe's ("--" alone is a usage error, exit 2: as with timeout(1),
-- a command was announced and is missing). Retries with backoff; progress on
-- stderr on a terminal.
local MAX_INTERVAL = 2 -- seconds between attempts, at most, after backoff

-- One attempt: "open", or the status that says why not, and a detail line.
local function attempt(target, probe_timeout)
  if target.kind == "unix" then
    local r, err = cr.probe.unix(target.path)
    if not r then
      return "error", err
    end
    return r.status, r.errno
  end
  local r, err, code = cr.probe.tcp(target.host, target.port, { timeout = probe_timeout })
  if not r then
    return "unresolved", ("%s (%s)"):format(err, code)
  end
  return r.status, r.results[1] and r.results[1].errno
end

-- The text: one line saying whether the target came up. With a command to
-- run, stdout belongs to the command: the line goes to stderr.
local function text(data, ctx)
  if ctx.quiet then
    return nil
  end
  local line
  if data.up then
    line = ("%s is up after %.2f s (%d attempt%s)\n"):format(data.target, data.elapsed, data.attempts,
      data.attempts == 1 and "" or "s")
  else
    line = ("%s did not accept a connection within %g s (%d attempts, last: %s)\n"):format(
      data.target, ctx.args.timeout, data.attempts, data.last_status)
  end
  if ctx.args.command then
    return nil, line
  end
  return line
end

local function run_command(command)
  local r, err, code = cr.exec { inherit = true, table.unpack(command) }
  if not r then
    return nil, err, code == "ENOENT" and 127 or 126 -- as a shell says it
  end
  return r.status
end

return cr.recipe {
  name = "waitfor",
  description = "Wait until TARGET accepts connections, then optionally run a command (wait-for-it, dockerize).",
  params = {
    { "target", type = "target", positional = true, help = "host:port, [v6]:port, PORT, URL, unix:/path" },
    { "timeout", type = "number", default = 30, min = 0, max = 86400 * 365, metavar = "S",
      help = "give up after S seconds (0: wait forever)" },
    { "interval", type = "number", default = 0.25, min = 0.01, metavar = "S",
      help = "first wait between attempts; it grows to 2 s" },
    { "command", type = "list", rest = true, metavar = "CMD", help = "run CMD once the target is up" },
  },
  run = function(ctx, o)
    local start = cr.now()
    local deadline = o.timeout > 0 and start + o.timeout or math.huge
    local interval, attempts = o.interval, 0
    local last -- the status of the latest attempt
    while true do
      attempts = attempts + 1
      local probe_timeout = math.max(0.05, math.min(2, deadline - cr.now()))
      local detail
      last, detail = attempt(o.target, probe_timeout)
      if last == "open" then
        break
      end
      local now = cr.now()
      ctx:progress("waiting for %s: %s%s, %.1f s", o.target.display, last, detail and (" " .. detail) or "",
        now - start)
      if deadline - now < 0.005 then -- timers have millisecond resolution: this is the end
        return { target = o.target.display, up = false, elapsed = now - start, attempts = attempts,
          last_status = last }, 1
      end
      cr.sleep(math.min(interval, deadline - now))
      interval = math.min(interval * 1.5, MAX_INTERVAL)
    end
    -- shown before the command runs: its output follows ours
    ctx:output { target = o.target.display, up = true, elapsed = cr.now() - start, attempts = attempts,
      last_status = last }
    if o.command then -- never empty: "--" with nothing after it is a usage error
      return run_command(o.command)
    end
    return 0
  end,
  text = text,
}
