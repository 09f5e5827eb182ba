-- The target accepts connections: which address, and who accepted.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"
local proxy = require "connrecipe.checks.proxy"

local check = { ids = { "reachable" } }

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and s.any_open) then
    return
  end
  local open = s.open
  local holders = {}
  for _, l in ipairs(situation.accepting(s.here, open.addr, s.port)) do
    holders[#holders + 1] = describe.listener(l)
  end
  -- warnings beside it do not change the headline; a failing upstream
  -- (connrecipe.checks.hops, run before) or proxy does
  if not proxy.failing(facts) and not ctx:has("upstream-failing") then
    ctx:verdict("reachable")
  end
  ctx:finding {
    id = "reachable", severity = "ok",
    summary = ("%s accepts connections (%s in %.2f ms)%s"):format(s.target.display, address.endpoint(open.addr, s.port),
      open.ms, holders[1] and ("; " .. holders[1]:match("held by (.*)$")) or ""),
    evidence = holders,
  }
end

return check
