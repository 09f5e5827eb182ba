-- What the listener dump could not read, and owners that could not be seen:
-- no claim is made about what was not read. When this namespace's tables
-- are unreadable, a refusal is "what listens is unknown", not "nothing
-- listens"; any other gap is a warning beside the verdict.
local situation = require "connrecipe.checks.situation"
local listener = require "connrecipe.checks.listener"

local check = { ids = { "listener-check-incomplete", "owner-unknown" } }

local function gap_lines(gaps, max)
  local lines = {}
  if gaps.own then
    lines[#lines + 1] = "this namespace's socket tables: " .. gaps.own
  end
  for i, line in ipairs(gaps.others) do
    if max and #lines >= max then
      lines[#lines + 1] = ("and %d more namespace(s)"):format(#gaps.others - i + 1)
      break
    end
    lines[#lines + 1] = line
  end
  if gaps.hidden then
    lines[#lines + 1] = ("the network namespace of %d process(es) of other users: Permission denied (not root); "
      .. "a namespace only they are in is not listed"):format(gaps.hidden)
  end
  if gaps.hidepid then
    lines[#lines + 1] = ("/proc is mounted with %s and this is not root: other users' processes are hidden "
      .. "(Permission denied), and a network namespace only they are in is not listed"):format(gaps.hidepid)
  end
  return lines
end

local function gaps_fix(s)
  if s.gaps.needs_root then
    return ("run as root to read every table and namespace: sudo connrecipe diagnose %s"):format(s.target.display)
  end
  return "list the listeners with ss -tlnp (in a namespace: ip netns exec NAME ss -tlnp); connrecipe reads them "
    .. "through sock_diag netlink or /proc/net"
end

-- The refusal, when this namespace's tables could not be read: no claim
-- about what listens.
local function listeners_unknown(ctx, s)
  local evidence = listener.probe_lines(s)
  for _, line in ipairs(gap_lines(s.gaps, 10)) do
    evidence[#evidence + 1] = "not read: " .. line
  end
  ctx:finding {
    id = "listener-check-incomplete", severity = "error",
    summary = ("port %d is refused, and what listens on it is unknown: this namespace's socket tables could not be "
      .. "read (%s)"):format(s.port, s.gaps.own),
    evidence = evidence,
    fix = gaps_fix(s),
  }
end

-- Any other gap, beside the verdict: it may hide the listener the findings
-- did not name. Other namespaces matter only when the target is not reachable.
local function beside(ctx, s)
  local gaps, any_open = s.gaps, s.any_open
  local others = #gaps.others > 0 or gaps.hidden or gaps.hidepid
  if not (gaps.own or (others and not any_open)) then
    return
  end
  local summary
  if gaps.own then
    summary = ("the listener check is incomplete: this namespace's socket tables could not be read (%s); %s"):format(
      gaps.own, any_open and "the accepting process is not named" or "the findings may miss a listener")
  elseif #gaps.others > 0 then
    summary = ("the listener check is incomplete: the listeners of %d other network namespace(s) could not be "
      .. "read%s, so one there would not be named"):format(#gaps.others, gaps.hidden
        and (", and the namespaces of %d process(es) of other users not even listed"):format(gaps.hidden) or "")
  elseif gaps.hidden then
    summary = ("the listener check is incomplete: the network namespaces of %d process(es) of other users could "
      .. "not be read (not root), so a listener in another network namespace only they are in would not be "
      .. "named"):format(gaps.hidden)
  else
    summary = ("the listener check is incomplete: /proc is mounted with %s, so other users' processes are not "
      .. "listed and a listener in a network namespace only they are in would not be named"):format(gaps.hidepid)
  end
  ctx:finding {
    id = "listener-check-incomplete", severity = any_open and "info" or "warn",
    summary = summary, evidence = gap_lines(gaps, 10), fix = gaps_fix(s),
  }
end

local function owners_unknown(ctx, s)
  local unknown = 0
  for _, l in ipairs(s.on_port) do
    if l.owner_unknown then
      unknown = unknown + 1
    end
  end
  if unknown > 0 then
    ctx:finding {
      id = "owner-unknown", severity = "info",
      summary = ("the owner of %d listener(s) on port %d could not be seen"):format(unknown, s.port),
      evidence = { s.on_port[1].owner_unknown_reason or "not permitted" },
      fix = "run as root to see the owners of other users' sockets: sudo connrecipe diagnose ...",
    }
  end
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not s then
    return
  end
  if s.here_is_local then -- a remote host's listeners are not in our tables anyway
    if s.nothing_here and s.gaps.own then
      listeners_unknown(ctx, s)
    else
      beside(ctx, s)
    end
  end
  owners_unknown(ctx, s)
end

return check
