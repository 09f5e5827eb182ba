-- The listener's accept queue is full: its owner is not calling accept().
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = { ids = { "backlog-full" } }

-- Is this listener's accept queue what stops the connection? Its own state
-- decides: a queue over its limit, or its drop counter growing during the
-- probe. The namespace's ListenDrops counts every listener's drops, so it
-- only supports that, or stands in when the /proc/net fallback gives neither
-- a limit nor a drop count and connections wait in this queue.
local function overflow_of(facts, l)
  local key = tostring(l.inode)
  local drops = facts.listener_drops or {}
  local before, after = (drops.before or {})[key], (drops.after or {})[key]
  local counters = facts.listen_drops or {}
  local growth = (counters.after or 0) - (counters.before or 0)
  local dropped = before and after and after - before -- by this listener, during the probe
  local limit_known = l.drops ~= nil or l.sendq > 0 -- netlink gives both; /proc/net neither
  local full = limit_known and l.recvq > l.sendq
  local only_counters = not limit_known and l.recvq > 0 and growth > 0
  if not (full or (dropped and dropped > 0) or only_counters) then
    return nil
  end
  return { listener = l, full = full, dropped = dropped, after = after, limit_known = limit_known, growth = growth }
end

--- The first accepting listener whose queue overflows (a SO_REUSEPORT group:
--- the probe may have hit any of them), as {listener, full, dropped, ...}, or nil.
function check.overflowing(facts, s)
  for _, l in ipairs(s.accepting) do
    local o = overflow_of(facts, l)
    if o then
      return o
    end
  end
end

local function finding(ctx, o, severity)
  local l = o.listener
  local evidence = { describe.listener(l) }
  evidence[#evidence + 1] = o.limit_known and ("accept queue: %d waiting, limit %d"):format(l.recvq, l.sendq)
    or ("accept queue: %d waiting, limit unknown (read from /proc/net)"):format(l.recvq)
  if o.dropped then
    evidence[#evidence + 1] = ("this listener dropped %d connection attempt(s) during the probe (%d in all)"):format(
      o.dropped, o.after)
  end
  if o.growth > 0 then
    evidence[#evidence + 1] = ("the namespace's ListenDrops (every listener's) grew by %d during the probe"):format(
      o.growth)
  end
  local state = o.full and ("%d connections wait, limit %d"):format(l.recvq, l.sendq)
    or o.dropped and o.dropped > 0 and ("it dropped %d connection attempt(s) during the probe"):format(o.dropped)
    or ("%d connection(s) wait and the namespace's listen drops grew"):format(l.recvq)
  ctx:finding {
    id = "backlog-full", severity = severity,
    summary = ("%s's accept queue on %s is full (%s): it is not calling accept() fast enough"):format(
      describe.holders(l.processes) or "the listener", address.endpoint(l.addr, l.port), state),
    evidence = evidence,
    fix = "find out why the server stopped accepting (hung, overloaded, blocked): strace -p PID or its logs; "
      .. "raise its listen backlog and net.core.somaxconn only if it is merely slow",
  }
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and not s.any_open and s.here_is_local and #s.accepting > 0) then
    return
  end
  local status, o = s.r.status, check.overflowing(facts, s)
  if not o then
    return
  end
  if status == "refused" then -- with net.ipv4.tcp_abort_on_overflow a full queue refuses
    if #situation.firewall_hits(facts, { reject = true }) == 0 then
      finding(ctx, o, "error")
    end
  elseif status == "timeout" then
    -- a drop rule that matches is the verdict even when the queue is full too:
    -- the SYN it drops never reaches the queue; deleting the rule alone would
    -- not let clients in, so the full queue is a warning beside it
    finding(ctx, o, #situation.firewall_hits(facts, { drop = true }) > 0 and "warn" or "error")
  end
end

return check
