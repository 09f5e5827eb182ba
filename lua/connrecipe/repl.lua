-- REPL support written in Lua: tab completion of globals and table fields
-- (and of cr.recipes), the recipes as global functions, how a line's results
-- are shown, and help() (connrecipe.help).
local cr = require "connrecipe"
local help = require "connrecipe.help"
local pretty = require "connrecipe.pretty"
local recipecall = require "connrecipe.recipecall"

local repl = {}

-- ---- completion ---------------------------------------------------------------

local function fields_of(v)
  local names, seen = {}, {}
  local function add(t)
    if type(t) ~= "table" then
      return
    end
    for k in pairs(t) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") and not seen[k] then
        seen[k] = true
        names[#names + 1] = k
      end
    end
  end
  add(v)
  if v == cr.recipes then -- its names are the recipes on the path, found when indexed
    local ok, list = pcall(recipecall.list)
    for _, r in ipairs(ok and list or {}) do
      add { [r.name] = true }
    end
  end
  local mt = getmetatable(v)
  if type(mt) == "table" then
    add(rawget(mt, "__index"))
  end
  return names
end

local function resolve(path)
  local v = _G
  for name in path:gmatch("[^.:]+") do
    local ok, next_v = pcall(function()
      return v[name]
    end)
    if not ok or next_v == nil then
      return nil
    end
    v = next_v
  end
  return v
end

--- repl.complete(word) -> sorted candidates completing `word` ("cr.pro" -> {"cr.probe"})
function repl.complete(word)
  local prefix, sep, partial = word:match("^(.*)([.:])([%w_]*)$")
  local base
  if prefix then
    base = resolve(prefix)
    if base == nil or (type(base) ~= "table" and type(base) ~= "userdata") then
      return {}
    end
  else
    base, prefix, sep, partial = _G, "", "", word
  end
  local out = {}
  for _, name in ipairs(fields_of(base)) do
    if name:sub(1, #partial) == partial and (partial:sub(1, 1) == "_" or name:sub(1, 1) ~= "_") then
      out[#out + 1] = prefix .. sep .. name
    end
  end
  table.sort(out)
  return out
end

-- ---- recipes as globals ------------------------------------------------------------

-- Binds each recipe on the path whose name is a free identifier as a global
-- function (diagnose, whoowns, a site recipe): a name already in use (print,
-- cr) keeps its value; cr.recipes.NAME reaches every recipe.
local function bind_recipes()
  local ok, list = pcall(recipecall.list)
  for _, r in ipairs(ok and list or {}) do
    if r.name:match("^[%a_][%w_]*$") and (rawget(_G, r.name) == nil
        or recipecall.name_of(rawget(_G, r.name)) == r.name) then
      rawset(_G, r.name, recipecall.function_of(r.name))
    end
  end
  return ok and list or {}
end

--- recipes(): in the REPL, the recipes on the path as --list shows them
--- (and any new one bound as a global)
local function recipes()
  io.stdout:write(recipecall.list_text(bind_recipes()))
  io.stdout:flush()
end

--- repl.setup(): the REPL's globals: help, recipes and the recipes themselves.
function repl.setup()
  rawset(_G, "help", help.show)
  rawset(_G, "recipes", recipes)
  bind_recipes()
end

-- ---- showing results -----------------------------------------------------------------

--- repl.show(...): prints a line's results: a recipe's report as the text the
--- command line prints (colour on a terminal), anything else pretty-printed.
function repl.show(...)
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if recipecall.is_report(v) then
      io.stdout:write(v:text(cr.cli.color))
    else
      io.stdout:write(pretty.format(v), "\n")
    end
  end
  io.stdout:flush()
end

--- The documented names, for the test that keeps the docs complete.
function repl.documented()
  return help.documented()
end

return repl
