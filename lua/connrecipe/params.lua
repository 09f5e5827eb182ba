-- Recipe parameters: declared once with a type, a default and help text; this
-- module parses a recipe's arguments against the declaration and writes its
-- --help. Errors are one line naming the parameter.
local target = require "connrecipe.target"

local params = {}

-- Said after a refused "-h HOST": where wait-for-it's command line is taken.
local HOST_HINT = "; wait-for-it's -h HOST -p PORT is 'connrecipe wait-for-it'"

local function display_name(p)
  return p.positional and (p.metavar or p.name:upper()) or ("--" .. p.name)
end

-- As the usage and --help show it: "TARGET..." when it takes several.
local function usage_name(p)
  return display_name(p) .. (p.many and "..." or "")
end

local function as_number(text, p, integer)
  local n = tonumber(text)
  if integer and n then
    n = math.tointeger(n) -- nil for 1.5, and for 1e300 (beyond 64-bit integers)
  end
  if not n or n ~= n or n == math.huge or n == -math.huge then
    return nil, ("expected %s, got '%s'"):format(integer and "an integer" or "a number", text)
  end
  if p.min and n < p.min then
    return nil, ("must be at least %s, got %s"):format(p.min, text)
  end
  if p.max and n > p.max then
    return nil, ("must be at most %s, got %s"):format(p.max, text)
  end
  return n
end

local converters = {
  string = function(text)
    if text == "" then
      return nil, "expected a value, got an empty string"
    end
    return text
  end,
  number = function(text, p)
    return as_number(text, p, false)
  end,
  integer = function(text, p)
    return as_number(text, p, true)
  end,
  port = function(text)
    local n = math.tointeger(tonumber(text))
    if not n or n < 1 or n > 65535 or not text:match("^%d+$") then
      return nil, ("expected a port 1-65535, got '%s'"):format(text)
    end
    return n
  end,
  target = function(text, p)
    return target.parse(text, { default_port = p.default_port })
  end,
  host = function(text)
    local ok, err = target.check_host(text)
    if not ok then
      return nil, err
    end
    return text
  end,
  boolean = function(text)
    local v = ({ ["true"] = true, yes = true, on = true, ["1"] = true,
                 ["false"] = false, no = false, off = false, ["0"] = false })[text:lower()]
    if v == nil then
      return nil, ("expected true or false, got '%s'"):format(text)
    end
    return v
  end,
  list = function(text)
    local items = {}
    for item in text:gmatch("[^,]+") do
      items[#items + 1] = item
    end
    return items
  end,
}

--- params.normalize(list) -> declarations with names, keys and types checked.
--- Raises on a malformed declaration (a recipe author's mistake).
function params.normalize(list)
  local out, by_name = {}, {}
  for i, p in ipairs(list or {}) do
    local decl = {}
    for k, v in pairs(p) do
      decl[k] = v
    end
    decl.name = decl.name or decl[1]
    if type(decl.name) ~= "string" then
      error(("recipe param %d has no name"):format(i), 3)
    end
    decl.type = decl.type or "string"
    if not converters[decl.type] then
      error(("recipe param '%s': unknown type '%s'"):format(decl.name, tostring(decl.type)), 3)
    end
    decl.key = decl.name:gsub("-", "_")
    out[#out + 1] = decl
    by_name[decl.name] = decl
  end
  return out, by_name
end

local function convert(p, text)
  local value, err = (p.parse or converters[p.type])(text, p) -- a recipe may bring its own parser
  if value == nil then
    return nil, ("%s: %s"):format(display_name(p), err)
  end
  if p.choices then
    for _, c in ipairs(p.choices) do
      if c == value then
        return value
      end
    end
    return nil, ("%s: expected one of %s, got '%s'"):format(display_name(p), table.concat(p.choices, ", "), text)
  end
  return value
end

local function store(args, p, value)
  if p.type == "list" and args[p.key] then
    for _, v in ipairs(value) do
      table.insert(args[p.key], v)
    end
  else
    args[p.key] = value
  end
end

-- "--name=value", "--name value", "--flag", "--no-flag"
local function parse_option(argv, i, by_name, args)
  local a = argv[i]
  local name, value = a:match("^%-%-([^=]+)=(.*)$")
  name = name or a:sub(3)
  local p = by_name[name]
  if not p and name:sub(1, 3) == "no-" and by_name[name:sub(4)] and by_name[name:sub(4)].type == "boolean" then
    if value then
      return nil, ("--%s takes no value"):format(name)
    end
    args[by_name[name:sub(4)].key] = false
    return i + 1
  end
  if not p or p.positional then
    return nil, ("unknown option '--%s'"):format(name)
  end
  if p.type == "boolean" and not value then
    args[p.key] = true
    return i + 1
  end
  if not value then
    if i + 1 > #argv then
      return nil, ("--%s needs a value%s"):format(name, p.metavar and (" (" .. p.metavar .. ")") or "")
    end
    value, i = argv[i + 1], i + 1
  end
  local v, err = convert(p, value)
  if v == nil then
    return nil, err
  end
  store(args, p, v)
  return i + 1
end

local function looks_like_option(a)
  return a:sub(1, 1) == "-" and #a > 1 and not tonumber(a)
end

--- params.parse(decls, by_name, argv) -> args, or nil, message, or "help".
--- As getopt: "--" ends the options; after it every argument is positional
--- ("-x", "--help", another "--"), or all of them go to the rest parameter,
--- which then needs at least one.
function params.parse(decls, by_name, argv)
  local args, positionals, rest_param = {}, {}, nil
  for _, p in ipairs(decls) do
    if p.positional then
      positionals[#positionals + 1] = p
    end
    if p.rest then
      rest_param = p
    end
  end
  local npos = 0
  local function positional(a) -- -> nil, or the error
    local p = positionals[npos]
    if not (p and p.many) then -- a `many` positional takes every one that follows
      npos = npos + 1
      p = positionals[npos]
    end
    if not p then
      return ("unexpected argument '%s'"):format(a)
    end
    local v, err = convert(p, a)
    if v == nil then
      return err
    end
    if p.many then
      args[p.key] = args[p.key] or {}
      table.insert(args[p.key], v)
    else
      args[p.key] = v
    end
  end
  local i, options_end = 1, false
  while i <= #argv do
    local a = argv[i]
    local nexti, err = i + 1, nil
    if options_end then
      err = positional(a)
    elseif a == "--help" then
      return "help"
    elseif a == "-h" then
      if argv[i + 1] ~= nil and argv[i + 1] ~= "--help" then -- "-h HOST" (wait-for-it's): never swallowed
        return nil, ("-h takes no value (it is --help), got '-h %s'%s"):format(argv[i + 1], HOST_HINT)
      end
      return "help"
    elseif a == "--" and rest_param then
      if i == #argv then -- "--" announces something: an empty $CMD in a script, most likely
        return nil, ("missing %s after '--'"):format(rest_param.metavar or rest_param.name:upper())
      end
      args[rest_param.key] = { table.unpack(argv, i + 1) }
      break
    elseif a == "--" then
      options_end = true
    elseif looks_like_option(a) then
      if a:sub(1, 2) ~= "--" then
        return nil, ("unknown option '%s'"):format(a)
      end
      nexti, err = parse_option(argv, i, by_name, args)
    else
      err = positional(a)
    end
    if err then
      return nil, err
    end
    i = nexti
  end
  for _, p in ipairs(decls) do
    if args[p.key] == nil then
      if type(p.default) == "string" and p.type ~= "string" then
        local v, err = convert(p, p.default) -- "localhost:5432" as a target, "80" as a port
        if v == nil then
          error(("recipe param '%s': bad default: %s"):format(p.name, err), 0)
        end
        args[p.key] = v
      elseif p.default ~= nil then
        args[p.key] = p.default
      elseif p.required or (p.positional and not p.optional) then
        return nil, ("missing %s"):format(display_name(p))
      end
    end
  end
  return args
end

local function usage_line(name, decls)
  local parts = { "usage: connrecipe " .. name }
  for _, p in ipairs(decls) do
    if p.positional then
      parts[#parts + 1] = p.optional and ("[" .. usage_name(p) .. "]") or usage_name(p)
    end
  end
  for _, p in ipairs(decls) do
    if not p.positional and not p.rest then
      local metavar = p.type == "boolean" and "" or (" " .. (p.metavar or p.type:upper()))
      parts[#parts + 1] = "[--" .. p.name .. metavar .. "]"
    end
  end
  for _, p in ipairs(decls) do
    if p.rest then
      parts[#parts + 1] = "[-- " .. (p.metavar or p.name:upper()) .. "...]"
    end
  end
  return table.concat(parts, " ")
end

local function help_row(left, p)
  local text = p.help or ""
  if p.default ~= nil and p.type ~= "boolean" then
    local d = type(p.default) == "table" and table.concat(p.default, ",") or tostring(p.default)
    text = text .. " (default " .. d .. ")"
  end
  if #left < 22 then
    return ("  %-22s %s"):format(left, text)
  end
  return ("  %s\n  %-22s %s"):format(left, "", text)
end

--- params.help(recipe_name, description, decls) -> the text of --help
function params.help(name, description, decls)
  local lines = { usage_line(name, decls), "", description or "", "" }
  local args, opts = {}, {}
  for _, p in ipairs(decls) do
    if p.positional then
      args[#args + 1] = help_row(usage_name(p), p)
    elseif p.rest then
      args[#args + 1] = help_row("-- " .. (p.metavar or p.name:upper()) .. "...", p)
    else
      local left = "--" .. p.name .. (p.type == "boolean" and "" or (" " .. (p.metavar or p.type:upper())))
      opts[#opts + 1] = help_row(left, p)
    end
  end
  if #args > 0 then
    lines[#lines + 1] = "arguments:"
    table.move(args, 1, #args, #lines + 1, lines)
  end
  if #opts > 0 then
    lines[#lines + 1] = "options:"
    table.move(opts, 1, #opts, #lines + 1, lines)
  end
  lines[#lines + 1] = "shared options: --json, --color=WHEN, -v/--verbose, -q/--quiet, --deadline SECS"
  lines[#lines + 1] = "exit status: 0 nothing wrong, 1 problem found, 2 bad input, 3 recipe error, 130 interrupted"
  return table.concat(lines, "\n") .. "\n"
end

return params
