-- cr.firewall: the live packet-filter rule set (nftables and iptables, both
-- back ends), normalised, and a matcher that walks it the way the kernel
-- would for one packet.
--
-- Parsers (parse_nft, parse_iptables_save) are pure and take text; rules()
-- runs the tools through cr.exec. Each normalised rule keeps its conditions
-- in `conds` ({field, op, values, ...}); anything the matcher does not
-- understand goes to `unknown` (a list of strings) and makes the rule's
-- outcome uncertain instead of being ignored.
local cr = require "connrecipe"
local util = require "connrecipe.sysutil"

-- The parsers and the matcher (~40 KB of Lua) load on first use: every
-- connrecipe run builds cr.firewall at start, few read a rule set.
local function part(name)
  return require("connrecipe.firewall." .. name)
end

local firewall = {}

--- cr.firewall.parse_nft(json_text [, listing]) -> rules, or nil, reason.
--- listing: the output of `nft -a list ruleset`, for each rule's text.
function firewall.parse_nft(...)
  return part("nft").parse(...)
end

--- cr.firewall.parse_iptables_save(text [, family [, backend]]) -> rules, or
--- nil, reason. family "ip" (iptables-save) or "ip6"; backend "nft" or "legacy".
function firewall.parse_iptables_save(...)
  return part("iptables").parse(...)
end

local function nft_rules(netns)
  local r, err, code = util.run({ "nft", "-j", "list", "ruleset" }, netns)
  if not r then
    return nil, err, code
  end
  local listing = util.run({ "nft", "-a", "list", "ruleset" }, netns)
  return firewall.parse_nft(r.stdout, listing and listing.stdout)
end

local function ipt_rules(prog, family, backend, netns)
  local r, err, code = util.run({ prog, "-c" }, netns)
  if not r then
    return nil, err, code
  end
  return firewall.parse_iptables_save(r.stdout, family, backend)
end

--- cr.firewall.rules([netns]) -> rules, notes; or nil, reason [, code] (EACCES or
--- EPERM when a tool was refused: root is needed).
--- Runs nft -j, iptables-save/ip6tables-save (nft back end) and the legacy
--- iptables-legacy-save/ip6tables-legacy-save, inside task. netns: a name under
--- /run/netns or a pid. notes lists the sources that could not be read when
--- others could ("iptables-legacy-save not installed"). Tables that
--- iptables-nft manages are taken from iptables-save (its text is the one
--- users know), not duplicated from nft.
function firewall.rules(netns)
  local sources = {
    { "nft" },
    { "iptables-save", "ip", "nft" },
    { "ip6tables-save", "ip6", "nft" },
    { "iptables-legacy-save", "ip", "legacy" },
    { "ip6tables-legacy-save", "ip6", "legacy" },
  }
  -- the five tools run concurrently
  local jobs = {}
  for i, s in ipairs(sources) do
    jobs[i] = function()
      local rules, tables_or_err, code
      if i == 1 then
        rules, tables_or_err, code = nft_rules(netns)
      else
        rules, tables_or_err, code = ipt_rules(s[1], s[2], s[3], netns)
      end
      return { rules = rules, tables = rules and tables_or_err, err = not rules and tables_or_err, code = code }
    end
  end
  local outcomes = { cr.all(jobs) }
  local results, failures = {}, {}
  for i, o in ipairs(outcomes) do
    if o.rules then
      results[i] = o
    elseif o.code == "EACCES" or o.code == "EPERM" then
      return nil, "permission denied", o.code -- a partial view would mislead
    else
      failures[#failures + 1] = o.err
    end
  end
  if not next(results) then
    return nil, table.concat(failures, "; ")
  end
  -- tables iptables-nft wrote appear in nft too: keep the iptables view
  local iptables_nft_tables = {}
  for i = 2, 3 do
    for _, tname in ipairs(results[i] and results[i].tables or {}) do
      iptables_nft_tables[sources[i][2] .. " " .. tname] = true
    end
  end
  local all = {}
  for i = 1, #sources do
    for _, rule in ipairs(results[i] and results[i].rules or {}) do
      if not (i == 1 and iptables_nft_tables[rule.family .. " " .. rule.table]) then
        all[#all + 1] = rule
      end
    end
  end
  return all, failures
end


--- cr.firewall.match{proto, addr, port [, direction] [, saddr] [, sport]
--- [, iif] [, oif] [, rules] [, netns]} -> hits, info; or nil, reason.
function firewall.match(q)
  -- local addresses go through lo
  return part("match").match(q, { rules = firewall.rules, interfaces = cr.sys.interfaces })
end

return firewall
