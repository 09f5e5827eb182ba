-- task:join(), cr.all and cr.timeout, written over the C primitive cr._wait.
local cr = require "connrecipe"

return function()
  local task_methods = cr._task_methods
  local wait = cr._wait
  local unpack = table.unpack

  -- true, results... -> results...; false, err -> nil, err
  local function results_or_nil(ok, ...)
    if ok then
      return ...
    end
    return nil, ...
  end

  -- true, results... -> results...; false, err -> raise err again
  local function results_or_raise(ok, ...)
    if ok then
      return ...
    end
    error((...), 0)
  end

  --- task:join() -> the function's results, or nil, err if it raised
  --- (nil, "cancelled" if it was cancelled).
  function task_methods:join()
    wait({ self }, "any")
    return results_or_nil(self:_outcome())
  end

  --- cr.all{fn1, fn2, ...} -> the first result of each function, in order.
  --- They run concurrently; if one raises, the others are cancelled and the
  --- error is raised again.
  function cr.all(fns)
    if type(fns) ~= "table" then
      error("bad argument #1 to 'all' (table of functions expected, got " .. type(fns) .. ")", 2)
    end
    local n = #fns
    for i = 1, n do
      if type(fns[i]) ~= "function" then
        error(("bad argument #1 to 'all' (item %d is a %s, expected a function)"):format(i, type(fns[i])), 2)
      end
    end
    if n == 0 then
      return
    end
    local tasks = {}
    for i = 1, n do
      tasks[i] = cr.spawn(fns[i])
    end
    local why, failed = wait(tasks, "all")
    if why == "failed" then
      for i = 1, n do
        tasks[i]:cancel()
      end
      results_or_raise(tasks[failed]:_outcome())
    end
    local results = {}
    for i = 1, n do
      local _, first = tasks[i]:_outcome()
      results[i] = first
    end
    return unpack(results, 1, n)
  end

  --- cr.timeout(seconds, fn, ...) -> fn's results, or nil, "timeout" when the
  --- deadline passes first (fn's pending operations are then cancelled).
  --- An error raised by fn is raised again.
  function cr.timeout(seconds, fn, ...)
    if type(seconds) ~= "number" or seconds < 0 or seconds ~= seconds then
      error("bad argument #1 to 'timeout' (number of seconds >= 0 expected)", 2)
    end
    if type(fn) ~= "function" then
      error("bad argument #2 to 'timeout' (function expected, got " .. type(fn) .. ")", 2)
    end
    local task = cr.spawn(fn, ...)
    if wait({ task }, "any", seconds) == "timeout" then
      task:cancel()
      return nil, "timeout"
    end
    return results_or_raise(task:_outcome())
  end
end
