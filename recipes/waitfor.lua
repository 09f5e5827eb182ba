-- Wait until TARGET accepts connections, then optionally run a command (wait-for-it, dockerize).
-- Exits 0 as soon as the target accepts, 1 when the timeout passes first; with
-- "-- CMD ARGS..." the command runs once the target is up and its exit status
-- becomes connrecipe's ("--" alone is a usage error, exit 2: as with timeout(1),
-- a command was announced and is missing). Retries with backoff; progress on
-- stderr on a terminal: time elapsed and the next attempt.
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

-- Sleeps until the next attempt at `next_at`; on a terminal the progress
-- line says how long it has waited and when the next attempt comes, every
-- half second at least.
local function wait_for_next(ctx, target, last, start, next_at)
  while true do
    local now = cr.now()
    if now >= next_at then
      return
    end
    ctx:progress("waiting for %s: %s, %.1f s elapsed, next attempt in %.1f s", target, last, now - start,
      next_at - now)
    cr.sleep(ctx.interactive and math.min(0.5, next_at - now) or next_at - now)
  end
end

-- The text: one line saying whether the target came up. With a command to
-- run, stdout belongs to the command: the line goes to stderr.
local function text(data, ctx)
  if ctx.quiet then
    return nil
  end
  local target = cr.text.escape(data.target) -- a Unix socket path may hold control bytes
  local line
  if data.up then
    line = ("%s is up after %.2f s (%d attempt%s)\n"):format(target, data.elapsed, data.attempts,
      data.attempts == 1 and "" or "s")
  else
    line = ("%s did not accept a connection within %g s (%d attempts, last: %s)\n"):format(
      target, ctx.args.timeout, data.attempts, data.last_status)
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
      if deadline - now < 0.005 then -- timers have millisecond resolution: this is the end
        return { target = o.target.display, up = false, elapsed = now - start, attempts = attempts,
          last_status = last }, 1
      end
      -- a refusal or a timeout says it all; why it did not resolve needs its detail
      local why = (last == "unresolved" or last == "error") and ("%s (%s)"):format(last, detail) or last
      wait_for_next(ctx, o.target.display, why, start, now + math.min(interval, deadline - now))
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
  metrics = function(data) -- the numbers of --format nagios and prometheus
    return {
      { name = "up", value = data.up and 1 or 0, help = "Whether the target accepted a connection (1) or not (0)" },
      { name = "attempts", value = data.attempts, help = "Connection attempts made" },
      { name = "wait_seconds", value = data.elapsed, unit = "seconds", help = "How long it waited" },
    }
  end,
}
