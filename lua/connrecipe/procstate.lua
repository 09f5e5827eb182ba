-- What a process's state letter means for a service. /proc/PID/stat gives
-- the thread-group leader's state: a leader whose main thread called
-- pthread_exit shows Z (ps: "Zl ... <defunct>") while its other threads run
-- and its sockets still work. cr.process.get/list then carry live_threads and
-- threads_state (the liveliest live thread's), and that is the state that
-- counts. Pure: reads only the process table it is given.
local procstate = {}

--- The state letter that describes the process as a whole.
function procstate.of(p)
  if (p.live_threads or 0) > 0 and p.threads_state then
    return p.threads_state
  end
  return p.state
end

--- It has exited: a zombie (Z) or dead (X), with no thread left running.
function procstate.exited(p)
  local s = procstate.of(p)
  return s == "Z" or s == "X"
end

--- It is stopped: SIGSTOP or ctrl-Z (T), or held by a debugger (t).
function procstate.stopped(p)
  local s = procstate.of(p)
  return s == "T" or s == "t"
end

--- It runs code: neither exited nor stopped.
function procstate.runs(p)
  return not (procstate.exited(p) or procstate.stopped(p))
end

--- "main thread exited, 3 threads still running" for a zombie leader with
--- live threads (stopped ones said so), else nil.
function procstate.note(p)
  local n = p.live_threads or 0
  if n == 0 then
    return nil
  end
  return ("main thread exited, %d thread%s still %s"):format(n, n == 1 and "" or "s",
    procstate.stopped(p) and "there (stopped)" or "running")
end

return procstate
