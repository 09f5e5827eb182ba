-- JSON for reports and --json output, over Debian's lua-dkjson (pure Lua).
-- Arrays that may be empty must be marked with json.array so they encode as
-- [] rather than {}.
local json = {}

-- The system's dkjson (never one in "."), loaded on first use: parsing its
-- source is ~1 ms, and a run that never encodes nor decodes (diagnose's text
-- report) need not pay it.
local dkjson
local function lib()
  dkjson = dkjson or require "connrecipe.sysrequire" ("dkjson")
  return dkjson
end

-- json.null, dkjson's sentinel, is taken from it on first access.
setmetatable(json, {
  __index = function(_, key)
    if key == "null" then
      rawset(json, "null", lib().null)
      return json.null
    end
  end,
})

local array_mt = { __jsontype = "array" }

--- json.array(t) -> t, marked to encode as a JSON array even when empty.
function json.array(t)
  return setmetatable(t or {}, array_mt)
end

--- json.utf8(s) -> s with every byte that is not valid UTF-8 replaced by
--- U+FFFD (socket paths and process names are bytes; JSON text is UTF-8).
function json.utf8(s)
  local parts, start = {}, 1
  while true do
    local ok, bad = utf8.len(s, start)
    if ok then
      parts[#parts + 1] = s:sub(start)
      return table.concat(parts)
    end
    parts[#parts + 1] = s:sub(start, bad - 1)
    parts[#parts + 1] = "\u{FFFD}"
    start = bad + 1
  end
end

-- A copy of v in which every string is valid UTF-8 (only for the rare
-- document that needs it: the common one is encoded as it is). A table met
-- twice (cr.sockets rows share one holder table per process) is copied once
-- and that copy used at both places.
local function clean(v, seen)
  if type(v) == "string" then
    return json.utf8(v)
  elseif type(v) ~= "table" then
    return v
  elseif seen[v] then
    return seen[v]
  end
  local copy = setmetatable({}, getmetatable(v))
  seen[v] = copy
  for k, x in pairs(v) do
    copy[clean(k, seen)] = clean(x, seen)
  end
  return copy
end

--- json.encode(value [, {indent = true}]) -> string. Keys are sorted, so the
--- same value always gives the same text; strings are made valid UTF-8.
function json.encode(value, opts)
  local text = json.encode_raw(value, opts)
  if utf8.len(text) then
    return text
  end
  return json.encode_raw(clean(value, {}), opts)
end

function json.encode_raw(value, opts)
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
  return lib().encode(value, { indent = opts and opts.indent, keyorder = keyorder })
end

--- json.decode(text) -> value, or nil, message
function json.decode(text)
  local value, _, err = lib().decode(text, 1, json.null)
  if err then
    return nil, err
  end
  return value
end

return json
