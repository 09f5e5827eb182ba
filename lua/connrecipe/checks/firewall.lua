-- A packet-filter rule (nft, iptables) rejects or drops the connection; or
-- the rules could not be read, and then no claim is made that none does.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"
local backlog = require "connrecipe.checks.backlog"

local check = {
  ids = { "firewall-reject", "firewall-drop", "firewall-check-incomplete" },
  needs = "firewall", -- without facts.firewall run finds nothing (checklist.lazy: not even loaded then)
}

check.hits, check.unread = situation.firewall_hits, situation.firewall_unread

-- The tool that writes a rule and puts it back when it is deleted, by its chain or table.
local function owner_of(rule)
  local chain, tbl = rule.chain or "", rule.table or ""
  if chain:match("^KUBE%-") or tbl == "kube-proxy" then
    return "kube-proxy", "the Service and its endpoints (kubectl get svc,endpointslices -A)"
  elseif chain:match("^DOCKER") then
    return "docker", "the container's published ports (docker ps; docker run -p) or DOCKER-USER"
  end
end

local function delete_rule_command(rule)
  local owner, instead = owner_of(rule)
  if owner then
    return ("%s owns this rule and restores it: change %s, not the rule"):format(owner, instead)
  end
  if rule.policy then
    return ("set the %s chain's policy to accept, or add an accept rule before it"):format(rule.chain)
  elseif rule.source == "nft" and rule.handle then
    return ("nft delete rule %s %s %s handle %s"):format(rule.family, rule.table, rule.chain, rule.handle)
  elseif rule.text and rule.text:match("^%-A ") then
    local tool = (rule.family == "inet6" or rule.family == "ip6") and "ip6tables" or "iptables"
    if rule.backend == "legacy" then
      tool = tool .. "-legacy"
    end
    return ("%s -t %s %s"):format(tool, rule.table or "filter", rule.text:gsub("^%-A ", "-D "))
  end
  return "remove or narrow the rule above"
end

local function rule_finding(ctx, s, hits, listener)
  local h = hits[1]
  local id = h.action == "drop" and "firewall-drop" or "firewall-reject"
  local evidence = {}
  for _, rule in ipairs(hits) do
    evidence[#evidence + 1] = describe.rule(rule)
  end
  if listener then
    evidence[#evidence + 1] = "listener: " .. describe.listener(listener)
  end
  ctx:finding {
    id = id, severity = "error",
    summary = ("%s is %s by a firewall rule (%s %s, %s)"):format(address.endpoint(s.r.addr, s.port),
      id == "firewall-drop" and "silently dropped" or "rejected", h.source or "?", h.chain or "?", h.action),
    evidence = evidence,
    fix = delete_rule_command(h),
  }
end

--- "run as root ..." when that would let the rules be read.
function check.unread_fix(s, needs_root)
  if needs_root then
    return ("run as root to read the nft and iptables rules: sudo connrecipe diagnose %s"):format(s.target.display)
  end
  return "check that nft and iptables-save run here (nft list ruleset; iptables-save)"
end

local function unread(ctx, s, why, needs_root, severity, summary, evidence)
  ctx:finding {
    id = "firewall-check-incomplete", severity = severity,
    summary = summary or ("the firewall check is incomplete: the nft/iptables rules could not be read (%s), so a "
      .. "rule that %s %s would not be named"):format(why, s.r.status == "timeout" and "drops" or "rejects",
      address.endpoint(s.r.addr, s.port)),
    evidence = evidence or { "nft and iptables: " .. why },
    fix = check.unread_fix(s, needs_root),
  }
end

-- Refused although a listener should accept: a reject rule, else (unless
-- the queue is full, connrecipe.checks.backlog, or the listener is bound to
-- another device or VRF, connrecipe.checks.device and .vrf) rules that could
-- not be read.
-- Rules read and none matching is connrecipe.checks.refusal's to say.
local function refused_with_listener(ctx, facts, s, overflowing)
  local l = s.accepting[1]
  local hits = check.hits(facts, { reject = true })
  if #hits > 0 then
    return rule_finding(ctx, s, hits, l)
  elseif overflowing or #s.bound_away > 0 or s.vrf or not l then
    return -- (no listener: investigate reads no rules then, but a facts file may hold some)
  end
  local who, where = describe.holders(l.processes) or "a process", address.endpoint(s.r.addr, s.port)
  local why, needs_root = check.unread(facts)
  if why then
    unread(ctx, s, why, needs_root, "error",
      ("%s is refused although %s listens there, and the firewall rules that could explain it could not be read "
        .. "(%s)"):format(where, who, why), { describe.listener(l), "nft and iptables: " .. why })
  end
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not s or s.any_open or not facts.firewall then
    return
  end
  local status, l = s.r.status, s.accepting[1]
  if s.here_is_local and status == "refused" then
    return refused_with_listener(ctx, facts, s, backlog.overflowing(facts, s))
  end
  local hits = check.hits(facts, status == "timeout" and s.here_is_local and { drop = true }
    or { reject = true, drop = true })
  if #hits > 0 then
    return rule_finding(ctx, s, hits, s.here_is_local and l or nil)
  end
  local why, needs_root = check.unread(facts)
  if why then
    unread(ctx, s, why, needs_root, "warn")
  end
end

return check
