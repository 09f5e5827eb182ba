-- Nothing listens on the port: what the program that should serve it
-- (--process, --unit, or the one that usually serves the port) is doing
-- instead: not running, still starting, listening on another port, running
-- in another namespace, or running without listening.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local ports = require "connrecipe.ports"
local procstate = require "connrecipe.procstate"
local situation = require "connrecipe.checks.situation"

local check = {
  ids = { "unit-state-unknown", "starting-up", "other-netns", "process-check-incomplete", "service-not-running",
          "port-mismatch", "process-zombie", "process-stopped", "not-listening" },
}

local RECENT = 10 -- seconds: a process younger than this may still be starting

-- Why the process list cannot show every process, or nil: /proc shows none
-- at all, not even this one (a /proc replaced or unreadable), or other
-- users' processes are hidden from us (hidepid, subset=pid) and we are not root.
local function blind_process_list(facts)
  local all, sec = facts.processes.list, facts.security or {}
  if facts.processes.error then
    return ("the process list could not be read (%s)"):format(facts.processes.error)
  end
  local self_seen = false
  for _, p in ipairs(all) do
    if p.pid == facts.pid then
      self_seen = true
      break
    end
  end
  if #all == 0 or not self_seen then
    return ("/proc lists %d process(es), and not this one (pid %d): the process list is not visible"):format(#all,
      facts.pid)
  end
  if not sec.root and sec.proc_restricted then
    return ("/proc is mounted with %s and this is not root: other users' processes are hidden"):format(
      sec.hidepid and ("hidepid=" .. sec.hidepid) or "subset=pid")
  end
end

-- Listeners here whose owner could not be seen: one of them may be the
-- expected program's (unread is not absent).
local function unowned(s)
  local n = 0
  for _, l in ipairs(s.here) do
    if l.owner_unknown then
      n = n + 1
    end
  end
  return n
end

local function starting_up(ctx, s, summary, evidence)
  ctx:finding {
    id = "starting-up", severity = "error", summary = summary, evidence = evidence,
    fix = ("wait for it: connrecipe waitfor %s --timeout 60"):format(s.target.display),
  }
end

local function process_check_incomplete(ctx, facts, why, blind, st)
  local args = facts.args
  local evidence = { "no visible process matches " .. why, blind }
  if st then
    evidence[#evidence + 1] = ("unit %s: %s/%s"):format(args.unit, tostring(st.ActiveState), tostring(st.SubState))
  end
  ctx:finding {
    id = "process-check-incomplete", severity = "warn",
    summary = ("cannot tell whether %s is running: %s"):format(args.unit or args.process, blind),
    evidence = evidence,
    fix = ("run as root with the host's /proc (or check with systemctl status / ps in a full view); "
      .. "then: sudo connrecipe diagnose %s"):format(args.target.display),
  }
end

local function service_not_running(ctx, facts, why, st)
  local args = facts.args
  local evidence = { "no process matches " .. why }
  if st then
    evidence[#evidence + 1] = ("unit %s: %s/%s, result %s, %s restarts"):format(args.unit, tostring(st.ActiveState),
      tostring(st.SubState), tostring(st.Result), tostring(st.NRestarts))
    local logs = facts.unit.logs
    for _, line in ipairs(type(logs) == "table" and logs or {}) do
      evidence[#evidence + 1] = "log: " .. tostring(line)
    end
  end
  ctx:finding {
    id = "service-not-running", severity = "error",
    summary = ("%s is not running, so nothing serves port %d"):format(args.unit or args.process, args.target.port),
    evidence = evidence,
    fix = args.unit and ("systemctl start %s; journalctl -u %s -n 50 if it fails again"):format(args.unit, args.unit)
      or ("start %s (and check its logs for why it stopped)"):format(args.process),
  }
end

local function runs_elsewhere(ctx, s, p, why)
  ctx:finding {
    id = "other-netns", severity = "warn",
    summary = ("%s (pid %d) runs, but in another network namespace (netns %s): it cannot serve port %d here"):format(
      p.comm, p.pid, tostring(p.netns), s.port),
    evidence = { "expected because " .. why },
    fix = "connect from inside that namespace (nsenter -t PID -n ...), or run the service in this one",
  }
end

-- One of the expected processes listening on other ports explains it best.
local function listens_elsewhere(ctx, facts, s, procs, why)
  for _, p in ipairs(procs) do
    local held = situation.ports_of(s, p.pid)
    if #held > 0 then
      local name = ("%s (pid %d)"):format(p.comm, p.pid)
      local where = {}
      for _, l in ipairs(held) do
        where[#where + 1] = address.endpoint(l.addr, l.port)
      end
      local evidence = { ("%s listens on %s"):format(name, table.concat(where, ", ")), "expected because " .. why }
      for _, setting in ipairs((facts.port_settings or {})[tostring(p.pid)] or {}) do
        evidence[#evidence + 1] = setting
      end
      if procstate.stopped(p) then -- the kernel queues connections there; nothing accepts them
        evidence[#evidence + 1] = ("%s is stopped (state %s): it accepts nothing until continued (kill -CONT %d)")
          :format(name, procstate.of(p), p.pid)
      end
      ctx:finding {
        id = "port-mismatch", severity = "error",
        summary = ("%s listens on port %d, not %d"):format(name, held[1].port, s.port),
        evidence = evidence,
        fix = ("connect to %s instead, or configure %s to listen on %d"):format(
          describe.with_port(s.target, held[1].port, held[1]), p.comm, s.port),
      }
      return true
    end
  end
end

-- "python3 (pid 12): main thread exited, 2 threads still running", or nil.
local function thread_note(p)
  local note = procstate.note(p)
  return note and ("%s (pid %d): %s (its leader's state is %s, its threads' %s): not a zombie"):format(p.comm,
    p.pid, note, p.state, p.threads_state)
end

-- It runs and does not listen: young, or for a while.
local function runs_without_listening(ctx, s, procs, why)
  local hidden = unowned(s)
  local evidence = { "expected because " .. why }
  for _, p in ipairs(procs) do
    evidence[#evidence + 1] = thread_note(p)
  end
  if hidden > 0 then
    evidence[#evidence + 1] = ("the owners of %d listener(s) here could not be seen: one of them may be its"):format(
      hidden)
  end
  for _, p in ipairs(procs) do
    if (p.age or math.huge) < RECENT then
      return starting_up(ctx, s, ("%s (pid %d) started %s ago and does not listen yet"):format(p.comm, p.pid,
        describe.age(p.age)), evidence)
    end
  end
  local p = procs[1]
  local note = procstate.note(p)
  local how = describe.age(p.age) .. (note and ("; " .. note) or "")
  ctx:finding {
    id = "not-listening", severity = "warn",
    summary = hidden > 0
      and ("%s (pid %d) runs (for %s); no TCP listener is seen to be its, but the owners of %d listener(s) "
        .. "could not be seen"):format(p.comm, p.pid, how, hidden)
      or ("%s (pid %d) runs (for %s) but listens on no TCP port"):format(p.comm, p.pid, how),
    evidence = evidence,
    fix = hidden > 0 and "run as root to see the owner of every listener: sudo connrecipe diagnose "
      .. s.target.display
      or ("check its configuration and logs: why did %s not bind port %d?"):format(p.comm, s.port),
  }
end

-- /proc's state letter: Z (zombie) and X (dead) have exited, T (SIGSTOP,
-- ctrl-Z) and t (a debugger's stop) run no code; the rest run. A zombie
-- leader with live threads is as alive as they are (connrecipe.procstate).
local function live_only(procs)
  local out = {}
  for _, p in ipairs(procs) do
    if procstate.runs(p) then
      out[#out + 1] = p
    end
  end
  return out
end

local function parent_of(facts, p)
  for _, q in ipairs(facts.processes and facts.processes.list or {}) do
    if q.pid == p.ppid then
      return q
    end
  end
end

-- "python3 (pid 100): python3 spawn.py", or "pid 100" when it is not listed
local function describe_parent(parent, ppid)
  if not parent then
    return ("pid %s"):format(tostring(ppid))
  end
  -- one line, bounded: a command line may hold a whole script
  local cmd = (parent.cmdline and table.concat(parent.cmdline, " ") or ""):gsub("%c+", " ")
  if #cmd > 120 then
    cmd = cmd:sub(1, 117) .. "..."
  end
  return ("%s (pid %d)%s"):format(parent.comm, parent.pid, cmd ~= "" and (": " .. cmd) or "")
end

-- It exited and its parent has not collected its exit status (wait()):
-- /proc still lists it, <defunct>, and it holds no socket.
local function zombie(ctx, facts, s, p, why)
  local parent = parent_of(facts, p)
  local pname = parent and ("%s (pid %d)"):format(parent.comm, parent.pid) or ("pid " .. tostring(p.ppid))
  ctx:finding {
    id = "process-zombie", severity = "error",
    summary = ("%s (pid %d) has exited: it is a zombie (<defunct>) that its parent %s has not reaped, and nothing "
      .. "serves port %d"):format(p.comm, p.pid, pname, s.port),
    evidence = { ("%s (pid %d): state Z (zombie), parent %s"):format(p.comm, p.pid, describe_parent(parent, p.ppid)),
                 "expected because " .. why },
    fix = ("start the service again (and look in its logs for why it exited); the zombie is only its exit status: "
      .. "%s"):format(p.ppid == 1
        -- init itself does not reap: a container's entrypoint run as pid 1
        and ("%s is pid 1 here and does not reap its children: run it under an init that does (docker run --init, "
          .. "tini)"):format(pname)
        or ("%s must wait() for it, or exit so that init reaps it"):format(pname)),
  }
end

-- SIGSTOP or ctrl-Z (T), or held by a debugger (t): it runs no code.
local function stopped(ctx, s, p, why)
  local state = procstate.of(p)
  local traced = state == "t"
  ctx:finding {
    id = "process-stopped", severity = "error",
    summary = ("%s (pid %d) is stopped (%s): it runs no code, so it does not listen on port %d"):format(p.comm,
      p.pid, traced and "held by a debugger" or "SIGSTOP, or ctrl-Z in its shell", s.port),
    evidence = { ("%s (pid %d): state %s (%s)"):format(p.comm, p.pid, state, traced and "tracing stop" or "stopped"),
                 "expected because " .. why, thread_note(p) },
    fix = traced and ("let it continue in the debugger that traces it, or detach it (TracerPid in /proc/%d/status)")
      :format(p.pid) or ("kill -CONT %d (or fg in the shell that stopped it)"):format(p.pid),
  }
end

-- None of the expected processes runs: one is a zombie or stopped.
local function not_running(ctx, facts, s, procs, why)
  for _, p in ipairs(procs) do
    if procstate.stopped(p) then
      return stopped(ctx, s, p, why)
    end
  end
  return zombie(ctx, facts, s, procs[1], why)
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and s.nothing_here) then
    return
  end
  local args = facts.args
  local unit = facts.unit or {}
  local st = unit.status
  if unit.error and args.unit then
    ctx:finding { id = "unit-state-unknown", severity = "info",
                  summary = ("cannot read the state of %s: %s"):format(args.unit, unit.error) }
  end
  if st and st.ActiveState == "activating" then
    return starting_up(ctx, s, ("%s is still starting (activating)"):format(args.unit))
  end
  local expected = situation.expected(facts, ports.usual_programs)
  if not expected then
    return
  end
  local procs, why = expected.here, expected.why
  if #procs == 0 and #expected.elsewhere > 0 and (args.process or args.unit) then
    return runs_elsewhere(ctx, s, expected.elsewhere[1], why)
  end
  if #procs == 0 then
    -- systemd's word that the unit is down holds even when /proc shows nothing
    local unit_down = args.unit and st and st.ActiveState ~= "active" and st.ActiveState ~= "reloading"
    local blind = blind_process_list(facts)
    if blind and (args.process or args.unit) and not unit_down then
      return process_check_incomplete(ctx, facts, why, blind, st)
    end
    if args.process or (args.unit and st) then -- without systemd, no process carries a unit
      service_not_running(ctx, facts, why, st)
    end
    return
  end
  if s.gaps.own then -- it runs; where it listens cannot be told
    return
  end
  if listens_elsewhere(ctx, facts, s, procs, why) then
    return
  end
  local live = live_only(procs)
  if #live == 0 then
    return not_running(ctx, facts, s, procs, why)
  end
  runs_without_listening(ctx, s, live, why)
end

return check
