-- Every process holding the listener is stopped (SIGSTOP, ctrl-Z, a
-- debugger): the socket stays open and the kernel still completes
-- handshakes into its queue, so a client connects (or, once the queue is
-- full, waits) and nothing ever accepts or answers it. That is not a running
-- service, whatever the probe says: the headline even over `reachable`.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local procstate = require "connrecipe.procstate"
local situation = require "connrecipe.checks.situation"

local check = {
  ids = { "process-stopped" },
  needs = "holders", -- without facts.holders run finds nothing (checklist.lazy: not even loaded then)
}

local function is_stopped(h)
  return h and not h.error and procstate.stopped(h)
end

-- The listener that takes the target and its holders' states, when every
-- holder's state was read and each one is stopped; else nil.
local function stopped_listener(facts, s)
  local held = facts.holders or {}
  for _, l in ipairs(situation.taking(s)) do
    local procs = l.processes or {}
    local all = #procs > 0
    for _, p in ipairs(procs) do
      all = all and is_stopped(held[tostring(p.pid)])
    end
    if all then
      return l, procs
    end
  end
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and s.here_is_local and facts.holders) then
    return
  end
  local l, procs = stopped_listener(facts, s)
  if not l then
    return
  end
  local evidence, pids, traced = { describe.listener(l) }, {}, false
  for _, p in ipairs(procs) do
    local h = facts.holders[tostring(p.pid)]
    local state, note = procstate.of(h), procstate.note(h)
    traced = traced or state == "t"
    evidence[#evidence + 1] = ("%s (pid %d): state %s (%s)%s"):format(p.comm, p.pid, state,
      state == "t" and "tracing stop: held by a debugger" or "stopped", note and ("; " .. note) or "")
    pids[#pids + 1] = tostring(p.pid)
  end
  evidence[#evidence + 1] = ("accept queue: %d waiting, limit %d"):format(l.recvq, l.sendq)
  local where, who = address.endpoint(s.r.addr, s.port), describe.holders(procs)
  ctx:finding {
    id = "process-stopped", severity = "error",
    summary = s.any_open
      and ("%s connects, but only the kernel answers: %s, which holds the listener, is stopped, so nothing accepts "
        .. "or answers the connection"):format(address.endpoint(s.open.addr, s.port), who)
      or ("%s is %s: %s, which holds the listener, is stopped and accepts nothing"):format(where, s.r.status, who),
    evidence = evidence,
    fix = traced and "let it continue in the debugger that traces it, or detach it (TracerPid in /proc/PID/status)"
      or ("kill -CONT %s (or fg in the shell that stopped it)"):format(table.concat(pids, " ")),
  }
  if s.any_open then
    ctx:verdict("process-stopped") -- over reachable: the handshake is the kernel's, not the service's
  end
end

return check
