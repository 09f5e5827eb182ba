-- scan.lua HOST [--ports SPEC] [--timeout S] [--concurrency N] [--json]
-- Which TCP ports on HOST accept a connection: a connect scan, as nmap -sT.
-- Prints the open ports; a progress bar goes to stderr on a terminal once the
-- scan takes more than a second.
local json = require "connrecipe.json"

local function bad(msg)
  io.stderr:write("connrecipe: scan: ", msg, "\n")
  return 2
end

local function parse_args(args)
  local o = { ports = "1-1024", timeout = 2, concurrency = 1000 }
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, value = a:match("^%-%-(%w+)=(.*)$")
    if not name and a:match("^%-") then
      name, value = a:match("^%-%-?(%w+)$"), args[i + 1]
      i = i + 1
    end
    if name == "ports" or name == "p" then
      if not value then return nil, "--ports needs a value (e.g. 1-1024,8080)" end
      o.ports = value
    elseif name == "timeout" then
      o.timeout = tonumber(value)
      if not o.timeout or o.timeout <= 0 then
        return nil, ("--timeout needs a number of seconds > 0, got %s"):format(tostring(value))
      end
    elseif name == "concurrency" then
      o.concurrency = math.tointeger(tonumber(value))
      if not o.concurrency or o.concurrency < 1 or o.concurrency > 65535 then
        return nil, ("--concurrency needs an integer 1-65535, got %s"):format(tostring(value))
      end
    elseif name then
      return nil, ("unknown option %s (expected --ports, --timeout, --concurrency, --json)"):format(a)
    elseif o.host then
      return nil, ("unexpected argument %s (one HOST only)"):format(a)
    else
      o.host = a
    end
    i = i + 1
  end
  if not o.host then
    return nil, "usage: scan.lua HOST [--ports SPEC] [--timeout S] [--json]"
  end
  return o
end

local function progress_bar(p)
  if p.elapsed < 1 or p.finished then
    return
  end
  local width = 30
  local filled = math.floor(width * p.done / math.max(p.total, 1))
  io.stderr:write(("\r[%s%s] %d/%d ports"):format(("#"):rep(filled), (" "):rep(width - filled), p.done, p.total))
  io.stderr:flush()
end

local o, err = parse_args({ ... })
if not o then
  return bad(err)
end

local show_progress = not cr.cli.json and not cr.cli.quiet and cr.probe._stderr_tty()
local ok, result, msg = pcall(cr.probe.scan, {
  host = o.host,
  ports = o.ports,
  timeout = o.timeout,
  concurrency = o.concurrency,
  on_progress = show_progress and progress_bar or nil,
})
if show_progress then
  io.stderr:write("\r\27[K")
end
if not ok then -- a bad port spec: the message names the bad part
  return bad((tostring(result):gsub("^.-cr%.probe%.scan: ", "")))
end
if not result then
  io.stderr:write("connrecipe: scan: ", msg, "\n")
  return 1
end

if cr.cli.json then
  print(json.encode({
    recipe = "scan",
    host = o.host,
    addr = result.addr,
    open = json.array(result.open),
    counts = result.counts,
    total = result.total,
    elapsed = result.elapsed,
  }))
  return 0
end

local shown = result.addr == o.host and o.host or ("%s (%s)"):format(o.host, result.addr)
print(("%s: %d open of %d TCP ports scanned in %.2f s"):format(shown, #result.open, result.total, result.elapsed))
for _, port in ipairs(result.open) do
  print(("%d/tcp open"):format(port))
end
if cr.cli.verbose then
  local parts = {}
  for status, n in pairs(result.counts) do
    parts[#parts + 1] = ("%s %d"):format(status, n)
  end
  table.sort(parts)
  print("counts: " .. table.concat(parts, ", "))
end
return 0
