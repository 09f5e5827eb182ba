-- Async calls inside a recipe's own coroutines (the approach of nmap's NSE).
--
-- An async call yields its task with a marker value. When it is made inside a
-- coroutine the recipe created, that yield lands in the recipe's
-- coroutine.resume instead of the scheduler. These wrappers notice the marker,
-- yield it on to the enclosing task, and hand the results back down when the
-- scheduler resumes the task. Plain yields pass through untouched.
local cr = require "connrecipe"

return function()
  local marker = cr._async_marker
  local co_create, co_resume, co_yield = coroutine.create, coroutine.resume, coroutine.yield
  local co_status, co_close = coroutine.status, coroutine.close

  -- While the task waits, a guard closes the inner coroutine (and so its
  -- to-be-closed variables) if the task is cancelled instead of resumed.
  local guard_mt = {
    __close = function(g)
      if not g.resumed and co_status(g.co) == "suspended" then
        co_close(g.co)
      end
    end,
  }
  local function passed(g, ...)
    g.resumed = true
    return ...
  end
  local function wait_outside(co)
    local g <close> = setmetatable({ co = co }, guard_mt)
    return passed(g, co_yield(marker))
  end

  local function relay(co, ok, ...)
    if ok and select("#", ...) == 1 and (...) == marker and co_status(co) == "suspended" then
      return relay(co, co_resume(co, wait_outside(co)))
    end
    return ok, ...
  end

  function coroutine.resume(co, ...) -- luacheck: ignore 122
    return relay(co, co_resume(co, ...))
  end

  function coroutine.wrap(fn) -- luacheck: ignore 122
    local co = co_create(fn)
    local function finish(ok, ...)
      if ok then
        return ...
      end
      local err = ...
      if co_status(co) == "dead" then
        co_close(co) -- close its to-be-closed variables, as the original wrap does
      end
      error(err, 0)
    end
    return function(...)
      return finish(relay(co, co_resume(co, ...)))
    end
  end
end
