-- The documentation cannot drift from the code: every public function has a
-- heading in docs/, every finding diagnose.lua's checks declare is in causes.md,
-- and the README's Quick start holds exactly two lines.
local source = os.getenv("CONNRECIPE_SOURCE_DIR")

local function read(path)
  local f = assert(io.open(source .. "/" .. path))
  local s = f:read("a")
  f:close()
  return s
end

require "connrecipe" -- makes its embedded modules requirable (package.preload)
local public_functions = require("publicapi").functions

describe("docs", function()
  it("document every public function with a ## or ### heading", function()
    local documented = require("connrecipe.repl").documented()
    local missing = {}
    for _, name in ipairs(public_functions()) do
      if not documented[name] then
        missing[#missing + 1] = name
      end
    end
    assert.same({}, missing, "undocumented: " .. table.concat(missing, ", "))
  end)

  it("explain every finding diagnose.lua can produce in docs/causes.md", function()
    local recipe, causes = read("recipes/diagnose.lua"), read("docs/causes.md")
    -- the checks diagnose.lua runs, each declaring the ids it can record
    local names = {}
    for name in recipe:gmatch('check "([%w_]+)"') do
      names[#names + 1] = name
    end
    assert.is_true(#names >= 10, "no check list found in recipes/diagnose.lua")
    for _, name in ipairs(names) do
      local check = require("connrecipe.checks." .. name)
      local text = read("lua/connrecipe/checks/" .. name .. ".lua")
      local declared = {}
      for _, id in ipairs(check.ids) do
        declared[id] = true
        assert.truthy(text:find('"' .. id .. '"', 1, true), id .. " is declared but not produced by checks/" .. name)
        assert.truthy(causes:find("| `" .. id .. "` |", 1, true), id .. " is not in docs/causes.md")
      end
      for id in text:gmatch('id = "([%w-]+)"') do
        assert.truthy(declared[id], id .. " is produced by checks/" .. name .. " but not in its ids")
      end
    end
  end)

  it("keep the README's Quick start to exactly two lines", function()
    local readme = read("README.md")
    local block = readme:match("## Quick start.-```%w*\n(.-)```")
    assert.is_string(block)
    local n = 0
    for line in block:gmatch("[^\n]+") do
      if line:match("%S") then
        n = n + 1
      end
    end
    assert.equal(2, n)
  end)
end)
