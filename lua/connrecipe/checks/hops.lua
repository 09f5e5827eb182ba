-- The connection was handed on (a forwarder's command line, a DNAT rule) and
-- the upstream fails: the upstream's own verdict, from the facts read inside
-- its namespace (connrecipe.follow), with the path the connection takes; a
-- forwarder or rule that sends it back to where it already went is a loop.
local address = require "connrecipe.address"
local checklist = require "connrecipe.checklist"
local containers = require "connrecipe.containers"
local hops = require("connrecipe.lazy").require "connrecipe.hops" -- only when there are hops
local situation = require "connrecipe.checks.situation"

local check = {
  ids = { "upstream-failing", "upstream-not-followed", "forwarding-loop", "follow-depth-limit" },
  needs = "hops", -- without facts.hops run finds nothing (checklist.lazy: not even loaded then)
}

-- A container by its name when the engine's list has it (the first run's
-- facts), else by its id as docker ps shows it.
local function container_label(facts, id)
  local c = containers.find(facts.containers and facts.containers.list, id)
  return c and containers.label(c) or id:sub(1, 12)
end

-- Where a hop's upstream is: "same netns" only in the client's own, so a
-- path through another namespace names it at every hop there.
local function where(hop, facts)
  local ns = hop.netns
  if not ns or ns.inode == (facts.args.own_netns or facts.netns) then
    return "same netns"
  end
  local label = "netns " .. (ns.name or tostring(ns.inode))
  return ns.container and (label .. ", container " .. container_label(facts, ns.container)) or label
end

-- How the connection got to this hop: "socat, pid 12", "DNAT by kube-proxy, KUBE-SEP-X".
local function how(hop)
  if hop.kind == "dnat" then
    return "DNAT" .. (hop.tool and (" by " .. hop.tool) or "") .. (hop.chain and (", chain " .. hop.chain) or "")
  end
  return hop.tool .. (hop.pid and (", pid " .. hop.pid) or "")
end

-- The hop past the depth limit that a hop's facts end with, if any.
local function past_limit(facts)
  for _, sub in ipairs(facts.hops or {}) do
    if sub.limit then
      return sub
    end
  end
end

-- The path below a followed hop -> segments ("10.0.0.2:80 (netns web)",
-- with how it goes on when it does), the deepest verdict, the deepest hop.
local function chain(hop, facts, list)
  local label = hops.endpoint(hop.upstream) .. " (" .. where(hop, facts)
  local verdict = checklist.explain(hop.facts, list)
  local next_hop = verdict and verdict.id == "follow-depth-limit" and past_limit(hop.facts)
  if next_hop then -- the path goes on, unfollowed: the hop that would have been next ends it
    return { label .. "; " .. how(next_hop) .. ")", hops.endpoint(next_hop.upstream) .. " (not followed)" }, verdict,
      hop
  end
  if verdict and verdict.id == "upstream-failing" then
    for _, sub in ipairs(hop.facts.hops or {}) do
      if sub.facts then
        local segs, cause, deepest = chain(sub, hop.facts, list)
        if cause and cause.severity == "error" then
          table.insert(segs, 1, label .. "; " .. how(sub) .. ")")
          return segs, cause, deepest
        end
      end
    end
  end
  return { label .. ")" }, verdict, hop
end

-- "in netns web (ip netns exec web ...)": where the upstream's fix applies,
-- or nil in the client's own namespace.
local function there(hop, facts)
  local ns = hop.netns
  if not ns or ns.inode == facts.netns then
    return nil
  end
  if ns.container then
    return ("in container %s"):format(container_label(facts, ns.container))
  elseif ns.name then
    return ("in netns %s (ip netns exec %s ...)"):format(ns.name, ns.name)
  elseif ns.pid then
    return ("in the network namespace of pid %d (nsenter -t %d -n ...)"):format(ns.pid, ns.pid)
  end
end

-- The upstream's fix, said for where it applies: inside the upstream's
-- namespace. A fix with a client's half (a TLS name the client may change)
-- says that half to the client and the rest for the server's namespace.
local function fix_there(hop, facts, cause)
  local where_ns = cause.fix and there(hop, facts)
  if not where_ns then
    return cause.fix
  elseif cause.fix_client and cause.fix_server then
    return ("on the client: %s; or, %s: %s"):format(cause.fix_client, where_ns, cause.fix_server)
  end
  return ("%s: %s"):format(where_ns, cause.fix)
end

local function failing(ctx, facts, s, hop, list)
  local segs, cause, deepest = chain(hop, facts, list)
  if not (cause and (cause.severity == "error" or cause.severity == "warn")) then
    return
  end
  local first = address.endpoint((s.open or s.r).addr, s.port)
  local path = ("client → %s (%s) → %s → %s"):format(first, how(hop), table.concat(segs, " → "), cause.id)
  local evidence = { "path: " .. path }
  for _, e in ipairs(type(cause.evidence) == "table" and cause.evidence or { cause.evidence }) do
    evidence[#evidence + 1] = "upstream: " .. tostring(e)
  end
  local handed = hop.kind == "dnat" and ("is rewritten by %s to %s"):format(how(hop), hops.endpoint(hop.upstream))
    or ("is accepted by %s (pid %d), which forwards it to %s"):format(hop.tool, hop.pid, hops.endpoint(hop.upstream))
  ctx:finding {
    id = "upstream-failing", severity = cause.severity,
    summary = ("%s %s (%s), where: %s"):format(first, handed, where(hop, facts), cause.summary),
    evidence = evidence,
    fix = fix_there(deepest, facts, cause),
  }
end

-- The forwarder or rule sends the connection back to an endpoint it went
-- through already (follow marks the hop `loop` and stops there).
local function loop(ctx, facts, s, hop)
  local first, back = address.endpoint((s.open or s.r).addr, s.port), hops.endpoint(hop.upstream)
  local path = {}
  for _, entry in ipairs(facts.args.visited or {}) do -- "INODE ADDR:PORT[|INODE NAME:PORT]"
    path[#path + 1] = (entry:gsub("|.*$", ""):gsub("^%d+ ", ""))
  end
  path[#path + 1] = first
  local evidence = { ("path: client → %s → %s again"):format(table.concat(path, " → "), back) }
  if hop.rule then
    evidence[#evidence + 1] = "rule: " .. hop.rule
  end
  local handed = hop.kind == "dnat" and ("is rewritten by %s back to %s"):format(how(hop), back)
    or ("is accepted by %s (pid %d), which forwards it back to %s"):format(hop.tool, hop.pid, back)
  ctx:finding {
    id = "forwarding-loop", severity = "error",
    summary = ("%s %s (%s), already on its path: the connection goes round in a loop and never reaches a service")
      :format(first, handed, where(hop, facts)),
    evidence = evidence,
    fix = hop.kind == "dnat" and ("correct the DNAT rule%s: its destination %s leads back into the loop"):format(
      hop.chain and (" in chain " .. hop.chain) or "", back)
      or ("make %s (pid %d) forward to the service itself, not to %s"):format(hop.tool, hop.pid, back),
  }
end

local function not_followed(ctx, s, hop)
  local evidence = {}
  if hop.rule then
    evidence[1] = "rule: " .. hop.rule
  end
  ctx:finding {
    id = "upstream-not-followed", severity = "info",
    summary = ("%s is forwarded by %s, not followed further: %s"):format(address.endpoint((s.open or s.r).addr,
      s.port), how(hop), hop.why),
    evidence = evidence,
  }
end

-- The checks of the list but this one: what the endpoint at the depth limit
-- shows of its own (it cannot call this check again over the same facts).
local function others(list)
  local out = {}
  for _, c in ipairs(list or {}) do
    if c ~= check then
      out[#out + 1] = c
    end
  end
  return out
end

-- Following stops at follow.MAX_DEPTH hops: the connection goes on from here
-- (hop.limit set, not followed). Said as a finding, with the next hop, so the
-- user can run diagnose where it continues; as severe as what this endpoint
-- shows of its own (a forwarder that accepts and closes fails past here).
local function depth_limit(ctx, facts, s, hop, list)
  local here, next_ep = address.endpoint((s.open or s.r).addr, s.port), hops.endpoint(hop.upstream)
  local own = list and checklist.explain(facts, others(list))
  local fails = own and (own.severity == "error" or own.severity == "warn")
  local evidence = { ("next hop: %s, by %s"):format(next_ep, how(hop)) }
  if hop.rule then
    evidence[#evidence + 1] = "rule: " .. hop.rule
  end
  if own then
    evidence[#evidence + 1] = ("at %s: %s: %s"):format(here, own.id, own.summary)
  end
  local by = hop.kind == "dnat" and how(hop) or ("%s (pid %d)"):format(hop.tool, hop.pid)
  ctx:finding {
    id = "follow-depth-limit", severity = fails and own.severity or "info",
    summary = ("%s is forwarded by %s to %s, which is not followed: diagnose follows %d hops at most%s"):format(here,
      by, next_ep, hop.limit, fails and ("; the connection fails past %s (%s)"):format(here, own.id) or ""),
    evidence = evidence,
    fix = ("diagnose the next hop from where %s sends it: connrecipe diagnose %s"):format(by, next_ep),
  }
end

--- check.run(ctx, facts, list): list is the run's checks (checklist.run
--- passes it), run again over each upstream's facts.
function check.run(ctx, facts, list)
  local s = situation.of(facts)
  if not (s and facts.hops) then
    return
  end
  for _, hop in ipairs(facts.hops) do
    if hop.facts and list then
      failing(ctx, facts, s, hop, list)
    elseif hop.loop then
      loop(ctx, facts, s, hop)
    elseif hop.limit then
      depth_limit(ctx, facts, s, hop, list)
    elseif hop.why then
      not_followed(ctx, s, hop)
    end
  end
end

return check
