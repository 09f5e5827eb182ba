-- The documentation cannot drift from the code: every public function has a
-- heading in docs/, every finding diagnose.lua can produce is in causes.md,
-- and the README's Quick start holds exactly two lines.
local cr = require "connrecipe"
local source = os.getenv("CONNRECIPE_SOURCE_DIR")

local function read(path)
  local f = assert(io.open(source .. "/" .. path))
  local s = f:read("a")
  f:close()
  return s
end

-- "cr.probe.tcp" for every function reachable from the module, "_" names excluded
local function public_functions()
  local names = {}
  local function walk(t, path, depth)
    for k, v in pairs(t) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" then
        if type(v) == "function" then
          names[#names + 1] = path .. "." .. k
        elseif type(v) == "table" and depth < 3 and k ~= "cli" then
          walk(v, path .. "." .. k, depth + 1)
        end
      end
    end
  end
  walk(cr, "cr", 1)
  for k, v in pairs(cr._task_methods) do
    if type(v) == "function" and k:sub(1, 1) ~= "_" then
      names[#names + 1] = "task:" .. k
    end
  end
  table.sort(names)
  return names
end

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
    -- ids written as `id = "..."`, plus those built from tables and arguments
    local ids = { "firewall-drop", "remote-refused", "remote-timeout", "host-unreachable", "not-a-socket" }
    for id in recipe:gmatch('id = "([%w-]+)"') do
      ids[#ids + 1] = id
    end
    for _, id in ipairs(ids) do
      assert.truthy(recipe:find('"' .. id .. '"', 1, true), id .. " is not produced by diagnose.lua")
      assert.truthy(causes:find("| `" .. id .. "` |", 1, true), id .. " is not in docs/causes.md")
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
