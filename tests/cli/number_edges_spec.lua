-- Durations and sizes at the edges: a huge --deadline or timeout is clamped
-- (about 31 years: never, in practice), not converted to an integer with
-- undefined behaviour (which made `--deadline 1e308` expire at once); NaN and
-- values out of range are a precise error.
local testenv = require "testenv"

after_each(testenv.cleanup)

local function run_chunk(code, ...)
  local args = { ... }
  args[#args + 1] = "-e"
  args[#args + 1] = code
  return testenv.run(args)
end

describe("--deadline", function()
  -- a wait, then a CPU-bound stretch (the count hook compares the clock with the deadline)
  local work = "cr.sleep(0.05) local x = 0 for i = 1, 3e6 do x = x + i end print('done')"

  for _, secs in ipairs { "1e11", "1e20", "1e308", "1.7e308" } do
    it(secs .. " seconds never expires", function()
      local r = run_chunk(work, "--deadline", secs)
      assert.equal(0, r.code, r.stderr)
      assert.equal("done\n", r.stdout)
      assert.equal("", r.stderr)
    end)
  end

  it("inf, nan and 0 are usage errors", function()
    for _, secs in ipairs { "inf", "nan", "0", "-1" } do
      local r = run_chunk("", "--deadline", secs)
      assert.equal(2, r.code, secs)
      assert.matches("--deadline needs a number of seconds > 0, got '" .. secs .. "'", r.stderr, 1, true)
    end
  end)
end)

describe("timeouts in the Lua API", function()
  it("a huge timeout is a long one, not an error", function()
    local r = run_chunk([[
assert(cr.timeout(1e300, cr.sleep, 0.01) == nil)
assert(select("#", cr.timeout(math.huge, function() return 1 end)) == 1)
assert(cr.exec{ "true", timeout = 1e300 }.status == 0)
assert(cr.exec{ "true", timeout = math.huge }.status == 0)
local p = assert(cr.probe.tcp("127.0.0.1", 9, { timeout = 1e300 }))
assert(p.status ~= "timeout", p.status)
local t = cr.spawn(cr.sleep, 1e300)
cr.sleep(0.01)
t:cancel()
print("ok")
]])
    assert.equal(0, r.code, r.stderr)
    assert.equal("ok\n", r.stdout)
  end)

  it("NaN and negative durations raise a precise error", function()
    local cases = {
      ["cr.sleep(0/0)"] = "bad argument #1 to 'sleep' %(seconds must be a number >= 0%)",
      ["cr.sleep(-1)"] = "bad argument #1 to 'sleep' %(seconds must be a number >= 0%)",
      ["cr.timeout(0/0, print)"] = "bad argument #1 to 'timeout'",
      ["cr.exec{ 'true', timeout = 0/0 }"] = "cr.exec: timeout must be a number of seconds > 0",
      ["cr.probe.tcp('127.0.0.1', 9, { timeout = 0/0 })"] = "cr.probe: timeout must be a number > 0",
      ["cr.probe.udp('127.0.0.1', 9, { timeout = -0/0 })"] = "cr.probe: timeout must be a number > 0",
    }
    for code, message in pairs(cases) do
      local r = run_chunk(code)
      assert.equal(3, r.code, code)
      assert.matches(message, r.stderr, 1, false, code)
      assert.not_matches("traceback", r.stderr)
    end
  end)

  it("read_bytes is an integer from 1 to 16 MiB", function()
    for _, v in ipairs { "0", "1e300", "0/0", "2.5", "16 * 1024 * 1024 + 1" } do
      local r = run_chunk("cr.probe.tcp('127.0.0.1', 9, { banner = true, read_bytes = " .. v .. " })")
      assert.equal(3, r.code, v)
      assert.matches("cr.probe: read_bytes must be an integer from 1 to 16777216", r.stderr, 1, true)
    end
  end)
end)
