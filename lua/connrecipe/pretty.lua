-- The REPL's printer: nested tables indented with sorted keys, short tables
-- and arrays on one line, cycles marked, long lists elided with a count, and
-- socket and process entries as one readable line each.
-- Strings are shown as Lua literals whose control bytes are visible escapes
-- (cr.text.escape: "\x1b", "\n"); a socket or process line escapes the names
-- in it; the whole text passes the same escape at the end (only its own
-- newlines stay), so nothing a value holds reaches the terminal raw.
local escape = require("connrecipe.text").escape

local pretty = {}

local MAX_ITEMS = 50 -- array items shown before eliding the rest
local WIDTH = 78

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

local function scalar(v)
  if type(v) == "string" then
    return '"' .. escape((v:gsub('[\\"]', "\\%0"))) .. '"'
  elseif math.type(v) == "float" and v == math.floor(v) and v > -1e15 and v < 1e15 then
    return ("%.1f"):format(v)
  end
  return tostring(v)
end

local function key_text(k)
  if is_identifier(k) then
    return k
  end
  return "[" .. scalar(k) .. "]"
end

local function sorted_keys(t, n)
  local keys = {}
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then
      return ta < tb
    end
    if ta == "string" or ta == "number" then
      return a < b
    end
    return tostring(a) < tostring(b)
  end)
  return keys
end

-- "127.0.0.1:80", "[::1]:80", "0.0.0.0%eth0:80" (bound to a device, as ss shows it)
local function addr_port(addr, port, dev)
  if not addr then
    return "*:" .. tostring(port or "*")
  end
  if addr:find(":", 1, true) then
    addr = "[" .. addr .. "]"
  end
  return addr .. (dev and ("%" .. tostring(dev)) or "") .. ":" .. tostring(port or "*")
end

--- One line for a socket entry (proto, port, state) or a process (pid, comm).
function pretty.entry_line(t)
  if type(t.proto) == "string" and (t.port or t.path) and t.state then
    local where = t.path or addr_port(t.addr, t.port, t.dev)
    local line = ("%s %s %s"):format(t.proto, t.state, where)
    if t.peer_addr and t.peer_port and t.peer_port ~= 0 then
      line = line .. " <-> " .. addr_port(t.peer_addr, t.peer_port)
    end
    if type(t.processes) == "table" and #t.processes > 0 then
      local owners = {}
      for _, p in ipairs(t.processes) do
        owners[#owners + 1] = ("%s(%s)"):format(tostring(p.comm), tostring(p.pid))
      end
      line = line .. " " .. table.concat(owners, ",")
    end
    return escape(line)
  end
  if math.type(t.pid) == "integer" and type(t.comm) == "string" then
    local line = ("pid %d %s"):format(t.pid, t.comm)
    if t.user then
      line = line .. " user=" .. tostring(t.user)
    end
    if type(t.cmdline) == "table" and #t.cmdline > 0 then
      line = line .. " cmd=" .. table.concat(t.cmdline, " ")
    end
    return escape(line)
  end
end

local format

local function format_table(t, indent, seen)
  if seen[t] then
    return "<cycle: " .. tostring(t) .. ">"
  end
  local mt = getmetatable(t)
  if mt and mt.__tostring then
    return tostring(t)
  end
  local line = pretty.entry_line(t)
  if line then
    return line
  end
  seen[t] = true
  local n = #t
  local parts, multiline = {}, false
  for i = 1, math.min(n, MAX_ITEMS) do
    parts[#parts + 1] = format(t[i], indent .. "  ", seen)
  end
  if n > MAX_ITEMS then
    parts[#parts + 1] = ("... (%d more)"):format(n - MAX_ITEMS)
  end
  for _, k in ipairs(sorted_keys(t, n)) do
    parts[#parts + 1] = key_text(k) .. " = " .. format(t[k], indent .. "  ", seen)
  end
  seen[t] = nil
  if #parts == 0 then
    return "{}"
  end
  local one_line = "{ " .. table.concat(parts, ", ") .. " }"
  for _, p in ipairs(parts) do
    multiline = multiline or p:find("\n", 1, true) ~= nil
  end
  if not multiline and #one_line + #indent <= WIDTH then
    return one_line
  end
  local inner = indent .. "  "
  return "{\n" .. inner .. table.concat(parts, ",\n" .. inner) .. ",\n" .. indent .. "}"
end

format = function(v, indent, seen)
  if type(v) == "table" then
    return format_table(v, indent, seen)
  end
  return scalar(v)
end

--- pretty.format(value) -> string
function pretty.format(v)
  return escape(format(v, "", {}), true)
end

--- pretty.print(...) prints each value on its own line(s), as the REPL shows results.
function pretty.print(...)
  for i = 1, select("#", ...) do
    io.stdout:write(pretty.format((select(i, ...))), "\n")
  end
  io.stdout:flush()
end

return pretty
