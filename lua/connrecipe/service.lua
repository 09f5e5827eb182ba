-- cr.service: systemd units behind a port — status from `systemctl show`,
-- recent journal lines, socket units that listen on a port. All of it needs
-- systemd as the init system (sd_booted(3): /run/systemd/system exists);
-- without it every function returns nil, "systemd is not running".
local util = require "connrecipe.sysutil"

local service = {}

local PROPERTIES = {
  "Id", "LoadState", "ActiveState", "SubState", "Result", "NRestarts", "MainPID", "ExecMainStatus",
  "ExecMainStartTimestamp", "FragmentPath", "Listen", "Triggers", "TriggeredBy",
}
local INTEGERS = { NRestarts = true, MainPID = true, ExecMainStatus = true }

-- The check systemd's own sd_booted() makes. A path override is for tests.
service._runtime_dir = "/run/systemd/system"

local function systemd_running()
  local f = io.open(service._runtime_dir, "rb")
  if not f then
    return nil, "systemd is not running"
  end
  f:close()
  return true
end

local function check_name(name, fname)
  if type(name) ~= "string" or name == "" or name:sub(1, 1) == "-" then
    error(("bad argument #1 to '%s' (unit name expected)"):format(fname), 3)
  end
end

--- cr.service.parse_show(text) -> {Property = value}; Listen becomes a list
--- of {type, address} ("Listen=[::]:22 (Stream)"); integers are numbers.
function service.parse_show(text)
  local props = {}
  for _, line in util.lines(text) do
    local k, v = line:match("^(%w+)=(.*)$")
    if k == "Listen" then
      props.Listen = props.Listen or {}
      for addr, kind in v:gmatch("(%S+) %((%w+)%)") do
        props.Listen[#props.Listen + 1] = { address = addr, type = kind }
      end
    elseif k then
      props[k] = INTEGERS[k] and math.tointeger(tonumber(v)) or v
    end
  end
  return props
end

--- cr.service.status(name [, netns]) -> {ActiveState, SubState, Result,
--- NRestarts, MainPID, ExecMainStatus, ExecMainStartTimestamp, FragmentPath,
--- Listen (socket units), LoadState, Id}; or nil, reason. Inside a task.
function service.status(name)
  check_name(name, "status")
  local ok, err = systemd_running()
  if not ok then
    return nil, err
  end
  local r
  r, err = util.run({ "systemctl", "show", "--no-pager", "-p", table.concat(PROPERTIES, ","), "--", name })
  if not r then
    return nil, err
  end
  local props = service.parse_show(r.stdout)
  if props.LoadState == "not-found" then
    return nil, "no unit " .. name
  end
  return props
end

--- cr.service.logs(name [, n]) -> the last n (default 20) journal lines of the
--- unit, oldest first; or nil, reason. Inside a task.
function service.logs(name, n)
  check_name(name, "logs")
  n = n or 20
  if math.type(n) ~= "integer" or n < 1 then
    error("bad argument #2 to 'logs' (positive integer expected)", 2)
  end
  local ok, err = systemd_running()
  if not ok then
    return nil, err
  end
  local r
  r, err = util.run({ "journalctl", "--no-pager", "-q", "-o", "short-iso", "-n", tostring(n), "-u", name })
  if not r then
    return nil, err
  end
  local lines = {}
  for _, line in util.lines(r.stdout) do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  return lines
end

--- cr.service.parse_list_sockets(text) -> { {listen, unit, activates} } from
--- `systemctl list-sockets --all --no-legend --full`
function service.parse_list_sockets(text)
  local out = {}
  for _, line in util.lines(text) do
    local listen, unit, activates = line:match("^%s*(%S+)%s+(%S+%.socket)%s*(.-)%s*$")
    if listen then
      out[#out + 1] = { listen = listen, unit = unit, activates = util.words(activates) }
    end
  end
  return out
end

local function listen_port(listen)
  return tonumber(listen:match(":(%d+)$") or listen:match("^(%d+)$"))
end

--- cr.service.for_port(port) -> the socket units listening on it: { {unit,
--- listen, activates} }; or nil, reason. Inside a task.
function service.for_port(port)
  if math.type(port) ~= "integer" or port < 1 or port > 65535 then
    error("bad argument #1 to 'for_port' (port 1-65535 expected)", 2)
  end
  local ok, err = systemd_running()
  if not ok then
    return nil, err
  end
  local r
  r, err = util.run({ "systemctl", "list-sockets", "--all", "--no-legend", "--full", "--no-pager" })
  if not r then
    return nil, err
  end
  local found = {}
  for _, s in ipairs(service.parse_list_sockets(r.stdout)) do
    if listen_port(s.listen) == port then
      found[#found + 1] = s
    end
  end
  return found
end

return service
