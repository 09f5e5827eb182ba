-- REPL support written in Lua: tab completion of globals and table fields,
-- and help() built from the API reference in docs/ (compiled into the binary),
-- so the REPL and the docs say the same thing.
local cr = require "connrecipe"
local docs = cr._docs()

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

-- ---- help ------------------------------------------------------------------------

-- "## cr.probe.tcp(host, port [, opts]) -> result" headings (## or ###) with a paragraph below
local function parse_docs()
  local entries, order = {}, {}
  for _, text in pairs(docs) do
    local current, para, done
    for line in (text .. "\n"):gmatch("(.-)\n") do
      local heading = line:match("^##+%s+(.+)$")
      if heading then
        heading = heading:gsub("`", "")
        current = nil
        -- "cr.sys.hosts([path]) / cr.sys.parse_hosts(text)": each name gets the entry
        for name in heading:gmatch("([%a_][%w_]*[.:][%w_.:]*[%w_])%s*[%({]") do
          if not current then
            current, para, done = { signature = heading, text = "" }, {}, false
          end
          if not entries[name] then
            order[#order + 1] = name
          end
          entries[name] = current
        end
      elseif line:match("^#") then
        current = nil
      elseif current and not done then
        if line:match("^%s*$") then
          done = #para > 0
        elseif not line:match("^```") then
          para[#para + 1] = line
          current.text = table.concat(para, " ")
        else
          done = #para > 0
        end
      end
    end
  end
  table.sort(order)
  return entries, order
end

local entries, order

local function names_by_function()
  local names = {}
  local function walk(t, path, depth)
    for k, v in pairs(t) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" then
        local name = path .. "." .. k
        if type(v) == "function" then
          names[v] = names[v] or name
        elseif type(v) == "table" and depth < 3 then
          walk(v, name, depth + 1)
        end
      end
    end
  end
  walk(cr, "cr", 1)
  for k, v in pairs(cr._task_methods or {}) do
    if type(v) == "function" and k:sub(1, 1) ~= "_" then
      names[v] = "task:" .. k
    end
  end
  return names
end

local function first_sentence(text)
  return text:match("^(.-%.)%s") or text
end

--- help([fn or "name"]): the signature and description of a public function
local function load_docs()
  if not entries then
    entries, order = parse_docs()
  end
end

function repl.help(what)
  load_docs()
  if what == nil then
    print("connrecipe REPL: each line runs as a task, so async calls work inline;")
    print("=expr prints a value; locals do not survive between lines (use globals);")
    print("Tab completes names; Ctrl-C cancels the running line; Ctrl-D exits.")
    print("help(cr.probe.tcp) or help('cr.sleep') for one function. Functions:")
    for _, name in ipairs(order) do
      print(("  %-40s %s"):format(entries[name].signature:sub(1, 40), first_sentence(entries[name].text)))
    end
    return
  end
  local name = what
  if type(what) == "function" then
    name = names_by_function()[what]
    if not name then
      print("no help: not a connrecipe function")
      return
    end
  end
  local e = entries[name]
  if not e then
    print(("no help for %s"):format(tostring(name)))
    return
  end
  print(e.signature)
  print("  " .. e.text)
end

--- The documented names, for the test that keeps the docs complete.
function repl.documented()
  load_docs()
  return entries
end

return repl
