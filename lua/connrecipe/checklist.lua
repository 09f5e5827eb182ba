-- Runs an ordered list of checks (connrecipe.checks.*) over a target's
-- facts (connrecipe.investigate). Each check reads only the facts and
-- records its findings; the order of the list decides the verdict: the
-- framework heads the report with the most severe finding, the first
-- recorded among equals.
local report = require "connrecipe.report"
local situation = require "connrecipe.checks.situation"

local checklist = {}

-- Whether a check can find anything in facts, for the checks that find
-- nothing without one fact (their check.needs) or outside one kind of
-- target: a lazy one of these is not even loaded when it cannot (a refused
-- port has no TLS, conversation, hops, rules read, containers...).
-- checks_spec runs every case through both lists, lazy and loaded.
local function has(fact)
  return function(facts)
    return facts[fact] ~= nil
  end
end

local CAN_FIND = {
  application = has "after_connect", firewall = has "firewall", holders = has "holders", hops = has "hops",
  kube = has "firewall", proxy = has "proxy", tls = has "tls", vrf = has "vrf",
  unix = function(facts) -- a Unix socket's, only
    return facts.args.target.kind == "unix"
  end,
  container = function(facts) -- only about containers the engines listed
    local read = facts.containers
    return read ~= nil and read.list ~= nil and read.list[1] ~= nil
  end,
}
checklist._CAN_FIND = CAN_FIND -- for the test

-- A check of a list not loaded yet: {module = name, can_find = CAN_FIND's};
-- reading any other field loads it.
local Lazy = {
  __index = function(stand_in, k)
    return require(rawget(stand_in, "module"))[k]
  end,
}

--- checklist.lazy(name) -> check connrecipe.checks.NAME for a list, loaded
--- when it first runs (a module costs its loading: most runs find nothing
--- in most checks); the list then holds the module itself. One that is not
--- built in is loaded at once (a misspelt name raises here, as require does).
function checklist.lazy(name)
  local module = "connrecipe.checks." .. name
  if not (package.preload[module] or package.loaded[module]) then
    return (require(module)) -- one value: require also returns where it found it
  end
  return setmetatable({ module = module, can_find = CAN_FIND[name] }, Lazy)
end

-- list[i], loaded when lazy, or nil when it would find nothing in facts.
local function runnable(list, i, facts)
  local check = list[i]
  if getmetatable(check) ~= Lazy then
    return check
  end
  local can_find = rawget(check, "can_find")
  if can_find and not can_find(facts) then
    return nil
  end
  list[i] = require(rawget(check, "module"))
  return list[i]
end

--- checklist.run(ctx, facts, list): every check of the list, in order.
--- Each check gets the list too, to run it again over nested facts (a hop's upstream).
function checklist.run(ctx, facts, list)
  situation.held(facts, function()
    for i in ipairs(list) do
      local check = runnable(list, i, facts)
      if check then
        check.run(ctx, facts, list)
      end
    end
  end)
end

--- checklist.explain(facts, list) -> verdict, findings: the same checks
--- recorded apart from the recipe's own findings, for a playbook that wants
--- the cause of one component's failure inside its own finding. The verdict
--- is what diagnose would head its report with.
function checklist.explain(facts, list)
  local sub = { findings = {} }
  function sub.finding(_, f)
    sub.findings[#sub.findings + 1] = f
    return f
  end
  function sub.verdict(_, id)
    sub.verdict_id = id
  end
  function sub.has(_, id)
    for _, f in ipairs(sub.findings) do
      if f.id == id then
        return f
      end
    end
  end
  checklist.run(sub, facts, list)
  local best
  for _, f in ipairs(sub.findings) do
    if f.id == sub.verdict_id then
      return f, sub.findings
    end
    if not best or report.severity_rank[f.severity] > report.severity_rank[best.severity] then
      best = f
    end
  end
  return best, sub.findings
end

--- checklist.ids(list) -> every finding id the checks of the list can record, sorted
function checklist.ids(list)
  local seen, out = {}, {}
  for _, check in ipairs(list) do
    for _, id in ipairs(check.ids) do
      if not seen[id] then
        seen[id] = true
        out[#out + 1] = id
      end
    end
  end
  table.sort(out)
  return out
end

return checklist
