-- JSON for reports and --json output, over Debian's lua-dkjson (pure Lua).
-- Arrays that may be empty must be marked with json.array so they encode as
-- [] rather than {}.
local dkjson = require "dkjson"

local json = {}

json.null = dkjson.null

local array_mt = { __jsontype = "array" }

--- json.array(t) -> t, marked to encode as a JSON array even when empty.
function json.array(t)
  return setmetatable(t or {}, array_mt)
end

--- json.encode(value [, {indent = true}]) -> string. Keys are sorted, so the
--- same value always gives the same text.
function json.encode(value, opts)
  local keyorder = {}
  local seen, seen_key = {}, {}
  local function collect(v)
    if type(v) ~= "table" or seen[v] then
      return
    end
    seen[v] = true
    for k, x in pairs(v) do
      if type(k) == "string" and not seen_key[k] then -- a key listed twice is emitted twice
        seen_key[k] = true
        keyorder[#keyorder + 1] = k
      end
      collect(x)
    end
  end
  collect(value)
  table.sort(keyorder)
  return dkjson.encode(value, { indent = opts and opts.indent, keyorder = keyorder })
end

--- json.decode(text) -> value, or nil, message
function json.decode(text)
  local value, _, err = dkjson.decode(text, 1, dkjson.null)
  if err then
    return nil, err
  end
  return value
end

return json
