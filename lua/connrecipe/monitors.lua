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

local function comm_of(pid)
  local f = io.open("/proc/" .. pid .. "/comm", "rb")
  if not f then
    return nil
  end
  local comm = f:read(64)
  f:close()
  return comm and comm:gsub("\n$", "")
end

--- monitors.find() -> {shims = {process, ...}, conmons = {process, ...}}:
--- root's running monitors, as cr.process.get gives them.
function monitors.find()
  local out = { shims = {}, conmons = {} }
  for _, name in ipairs(cr.list_trusted_dir("/proc") or {}) do
    local kind = name:match("^%d+$") and KIND[comm_of(name) or ""]
    if kind then
      local p = cr.process.get(math.tointeger(tonumber(name)))
      if p and p.uid == 0 then
        out[kind][#out[kind] + 1] = p
      end
    end
  end
  return out
end

return monitors
