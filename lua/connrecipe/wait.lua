-- Waiting for targets to come up (or go down): the attempts, the backoff
-- between them and the deadline, shared by the waitfor recipe and the
-- wait-for-it mode. Each round probes every target still waited for at once;
-- a target is done once an attempt saw what was waited for.
local cr = require "connrecipe"

local wait = {}

local MAX_PROBE_TIMEOUT = 2 -- seconds one attempt may take, at most

--- wait.attempt(target, probe_timeout) -> "open" or the status that says why
--- not ("refused", "timeout", "unresolved", "error", ...), and a detail.
function wait.attempt(target, probe_timeout)
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

--- wait.why(status, detail) -> the status as a progress line shows it: a
--- refusal or a timeout says it all, why it did not resolve needs its detail.
function wait.why(status, detail)
  if (status == "unresolved" or status == "error") and detail then
    return ("%s (%s)"):format(status, detail)
  end
  return status
end

-- One round: an attempt on every target not done yet, all at once.
local function round(states, deadline, invert, start)
  local pending, probes = {}, {}
  for _, s in ipairs(states) do
    if not s.done then
      pending[#pending + 1] = s
      probes[#probes + 1] = function()
        local probe_timeout = math.max(0.05, math.min(MAX_PROBE_TIMEOUT, deadline - cr.now()))
        return { wait.attempt(s.target, probe_timeout) }
      end
    end
  end
  local results = { cr.all(probes) }
  for i, s in ipairs(pending) do
    s.attempts = s.attempts + 1
    s.last_status, s.detail = results[i][1], results[i][2]
    if (s.last_status == "open") ~= (invert == true) then
      s.done, s.elapsed = true, cr.now() - start
    end
  end
end

local function all_done(states)
  for _, s in ipairs(states) do
    if not s.done then
      return false
    end
  end
  return true
end

-- Sleeps until `next_at`; with `on_wait`, calls it every `tick` seconds at
-- least with the seconds waited so far and those left until the next round.
local function pause(opts, start, next_at)
  while true do
    local now = cr.now()
    if now >= next_at then
      return
    end
    if opts.on_wait then
      opts.on_wait(now - start, next_at - now)
    end
    cr.sleep(opts.tick and math.min(opts.tick, next_at - now) or next_at - now)
  end
end

--- wait.run(targets, opts) -> {done, elapsed, targets = {state...}}
--- targets: parsed targets (connrecipe.target); opts.timeout: seconds, 0 or
--- nil for ever; opts.interval: the first pause between rounds (default
--- 0.25), growing by half each round up to opts.max_interval (default 2);
--- opts.invert: wait until none accepts any more; opts.on_wait(elapsed,
--- next_in, states) while pausing, every opts.tick seconds at least.
--- Each state: {target, display, done, attempts, last_status, detail, elapsed}.
--- `done` is true when every target was seen as waited for in time.
function wait.run(targets, opts)
  local start = cr.now()
  local deadline = (opts.timeout or 0) > 0 and start + opts.timeout or math.huge
  local interval, max_interval = opts.interval or 0.25, opts.max_interval or 2
  local states = {}
  for i, t in ipairs(targets) do
    states[i] = { target = t, display = t.display, done = false, attempts = 0 }
  end
  local on_wait = opts.on_wait
  local pause_opts = { tick = opts.tick, on_wait = on_wait and function(elapsed, next_in)
    on_wait(elapsed, next_in, states)
  end }
  while true do
    round(states, deadline, opts.invert, start)
    local now = cr.now()
    if all_done(states) then
      return { done = true, elapsed = now - start, targets = states }
    elseif deadline - now < 0.005 then -- timers have millisecond resolution: this is the end
      return { done = false, elapsed = now - start, targets = states }
    end
    pause(pause_opts, start, now + math.min(interval, deadline - now))
    interval = math.min(interval * 1.5, max_interval)
  end
end

return wait
