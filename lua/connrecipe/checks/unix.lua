-- A Unix socket target: missing, stale, not a socket, not permitted, its
-- queue full, or reachable.
local describe = require "connrecipe.describe"

local check = {
  ids = { "reachable", "unix-socket-missing", "stale-unix-socket", "permission-denied", "backlog-full",
          "not-a-socket", "probe-error" },
}

--- The listening Unix sockets with a path like `wanted`: the same directory,
--- or a basename sharing a word with it.
function check.similar_paths(wanted, sockets)
  local dir, base = wanted:match("^(.*)/([^/]*)$")
  local stem = (base or wanted):gsub("^@", ""):match("^[%a%d]+") or ""
  local out = {}
  for _, s in ipairs(sockets) do
    local p = s.path
    if p and p ~= wanted then
      local pdir, pbase = p:match("^(.*)/([^/]*)$")
      if (dir and pdir == dir) or (#stem >= 3 and (pbase or p):find(stem, 1, true)) then
        out[#out + 1] = s
      end
    end
  end
  return out
end

-- The listening Unix sockets, and why they could not be read, if they could not.
local function sockets(facts)
  local read = facts.unix_sockets or {}
  if read.error then
    return {}, read.error
  end
  local sources = (read.info or {}).sources or {}
  local unread = read.info and read.info.error
  if not unread and sources.unix ~= "netlink" and sources.unix ~= "proc" then
    unread = "neither sock_diag nor /proc/net/unix could be read"
  end
  return read.list or {}, unread
end

local function missing(ctx, t, socks, unread)
  local similar = {}
  for _, s in ipairs(check.similar_paths(t.path, socks)) do
    similar[#similar + 1] = s.path .. " held by " .. (describe.holders(s.processes) or "owner unknown")
  end
  ctx:finding { id = "unix-socket-missing", severity = "error",
                summary = ("%s does not exist: the server is not running or uses another path"):format(t.path),
                evidence = #similar > 0 and similar or { unread
                  and ("the listening Unix sockets could not be read (%s): similar names unknown"):format(unread)
                  or "no listening Unix socket has a similar name" },
                fix = #similar > 0
                  and ("point the client at %s if that is the server"):format(similar[1]:match("^%S+"))
                  or "start the server, and check the socket path in its configuration" }
end

local function denied(ctx, facts, t, r)
  local sec = facts.security or {}
  local evidence = { ("connecting as uid %s: %s"):format(tostring(sec.euid), tostring(r.errno)), facts.stat }
  if sec.selinux == "enforcing" then
    evidence[#evidence + 1] = "SELinux is enforcing: check ausearch -m avc"
  end
  if sec.apparmor then
    evidence[#evidence + 1] = "AppArmor is enabled: check the profile of the client"
  end
  ctx:finding { id = "permission-denied", severity = "error",
                summary = ("no permission to connect to %s"):format(t.path), evidence = evidence,
                fix = "add the client's user to the socket's group, or change the socket's mode in the "
                  .. "server's configuration" }
end

function check.run(ctx, facts)
  local t = facts.args.target
  if t.kind ~= "unix" then
    return
  end
  local r = facts.probe
  if not r then
    return ctx:finding { id = "probe-error", severity = "error", summary = tostring(facts.probe_error) }
  end
  local socks, unread = sockets(facts)
  local owner
  for _, s in ipairs(socks) do
    if s.path == t.path then
      owner = s
    end
  end
  if r.status == "open" then
    ctx:finding { id = "reachable", severity = "ok",
                  summary = ("%s accepts connections%s"):format(t.display, owner and owner.processes and
                    ("; held by " .. (describe.holders(owner.processes) or "?")) or "") }
  elseif r.status == "missing" or (r.status == "refused" and t.abstract) then -- no stale abstract names
    missing(ctx, t, socks, unread)
  elseif r.status == "refused" then
    ctx:finding { id = "stale-unix-socket", severity = "error",
                  summary = ("%s exists but nothing listens on it: a stale socket file left by a server that "
                    .. "exited"):format(t.path),
                  fix = ("restart the server (it recreates the socket); if it refuses to start, rm %s first"):format(
                    t.path) }
  elseif r.status == "denied" then
    denied(ctx, facts, t, r)
  elseif r.status == "busy" then
    ctx:finding { id = "backlog-full", severity = "error",
                  summary = ("%s's accept queue is full"):format(t.path),
                  evidence = owner and { "held by " .. (describe.holders(owner.processes) or "?") } or nil,
                  fix = "the server is not accepting connections fast enough: check whether it hangs" }
  else
    ctx:finding { id = r.status == "not-a-socket" and "not-a-socket" or "probe-error", severity = "error",
                  summary = ("%s: %s"):format(t.path, r.status) }
  end
end

return check
