-- The container runtimes' monitor processes, root's only: containerd's shims
-- (a shim works in its task's bundle directory) and podman's conmons (their
-- command line names the container's storage). Found by each process's
-- comm alone, one small read per process, so that naming containers does not
-- cost a full read of every process (cr.process.list: several times slower
-- on a host with hundreds of them); only the few monitors are read whole.
local cr = require "connrecipe"

local monitors = {}

-- comm is cut to 15 bytes: containerd-shim-runc-v2 shows as containerd-shim
local KIND = { ["containerd-shim"] = "shims", conmon = "conmons" }

--- monitors.find() -> {shims = {process, ...}, conmons = {process, ...}}:
--- root's running monitors, as cr.process.get gives them, in the order of
--- their /proc names. The comm scan is C (cr.process._pids_by_comm: ~2 us a
--- process, against ~9 us for a Lua io.open per process).
function monitors.find()
  local out = { shims = {}, conmons = {} }
  local comms = cr.process._pids_by_comm { "containerd-shim", "conmon" } or {}
  local names = {}
  for pid in pairs(comms) do
    names[#names + 1] = tostring(pid)
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local pid = math.tointeger(tonumber(name))
    local p = cr.process.get(pid)
    if p and p.uid == 0 then
      local kind = KIND[comms[pid]]
      out[kind][#out[kind] + 1] = p
    end
  end
  return out
end

return monitors
