-- The target accepts connections: which address, and who accepted.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"
local lazy = require "connrecipe.lazy" -- the checks below: loaded only when this one needs them
local container = lazy.require "connrecipe.checks.container"
local proxy = lazy.require "connrecipe.checks.proxy"
local application = lazy.require "connrecipe.checks.application"
local tls = lazy.require "connrecipe.checks.tls"

local check = { ids = { "reachable" } }

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not (s and s.any_open) or application.failing(facts) or tls.failing(facts) or container.failing(facts) then
    return -- accepted and then dropped, refused or failing TLS is not reachable: checks.application, checks.tls;
    -- nor a forwarder's accept for a container that cannot serve: checks.container
  end
  local open = s.open
  local holders = {}
  for _, l in ipairs(situation.accepting(s.here, open.addr, s.port)) do
    holders[#holders + 1] = describe.listener(l)
  end
  local evidence, conv = { table.unpack(holders) }, facts.after_connect
  if conv and conv.said then -- what it said, or answered
    evidence[#evidence + 1] = (conv.state == "spoke" and "it spoke first: "
      or ("it answered %s: "):format(tostring(conv.sent))) .. (conv.answer and conv.answer.words or conv.said)
  elseif conv and conv.state == "silent" then
    evidence[#evidence + 1] = ("it waited for the client (silent for %g s)"):format(conv.settle)
  end
  local t = facts.tls
  if t and t.handshake then
    evidence[#evidence + 1] = ("TLS: %s, %s; certificate %s, until %s, verification %s"):format(tostring(t.version),
      tostring(t.cipher), tostring(t.subject), os.date("!%Y-%m-%d", t.not_after or 0), tostring(t.verify))
  end
  -- warnings beside it do not change the headline; a failing upstream
  -- or a forwarding loop (connrecipe.checks.hops, run before) or proxy does
  if not proxy.failing(facts) and not ctx:has("upstream-failing") and not ctx:has("forwarding-loop") then
    ctx:verdict("reachable")
  end
  ctx:finding {
    id = "reachable", severity = "ok",
    summary = ("%s accepts connections (%s in %.2f ms)%s"):format(s.target.display, address.endpoint(open.addr, s.port),
      open.ms, holders[1] and ("; " .. holders[1]:match("held by (.*)$")) or ""),
    evidence = evidence,
  }
end

return check
