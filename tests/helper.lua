-- Loaded by busted before every spec: makes the built module and the test
-- helpers requirable.
local module_dir = assert(os.getenv("CONNRECIPE_MODULE_DIR"), "run the tests through ctest")
local source_dir = assert(os.getenv("CONNRECIPE_SOURCE_DIR"))
package.cpath = module_dir .. "/?.so;" .. package.cpath
package.path = source_dir .. "/tests/lib/?.lua;" .. package.path

-- Sanitizer build: the ASan runtime is preloaded into lua5.4 (run_busted.sh)
-- for the instrumented module. It must not leak into the commands tests run
-- (servers, ss, pgrep): uninstrumented programs with it preloaded can hang.
if os.getenv("CONNRECIPE_ASAN_PRELOAD") then
  local execute, popen = os.execute, io.popen
  local function without_preload(cmd)
    return "env -u LD_PRELOAD sh -c '" .. cmd:gsub("'", "'\\''") .. "'"
  end
  os.execute = function(cmd) -- luacheck: ignore 122
    if cmd == nil then
      return execute()
    end
    return execute(without_preload(cmd))
  end
  io.popen = function(cmd, mode) -- luacheck: ignore 122
    return popen(without_preload(cmd), mode)
  end
end
