-- The listener is bound to another address, or the other IP family: as the
-- verdict of a refusal, or as a warning when one of the name's addresses
-- works and another does not. Behind a forwarder or DNAT rule (a hop's
-- upstream), the fix is for the app: listen where the forwarder connects.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = { ids = { "address-mismatch", "family-mismatch" } }

-- Some addresses of the name answer, others do not: clients that try only
-- the first may fail.
local function partly_reachable(ctx, s)
  local t, open = s.target, s.open
  for _, r in ipairs(s.results) do
    if r.status ~= "open" then
      local other_family = r.family ~= open.family
      local first = s.results[1] == r
      ctx:finding {
        id = other_family and "family-mismatch" or "address-mismatch", severity = "warn",
        summary = ("%s resolves to %s too, which is %s%s"):format(t.host, address.endpoint(r.addr, s.port), r.status,
          first and ": clients that try only the first address fail" or ""),
        evidence = { ("%s: %s"):format(address.endpoint(r.addr, s.port), r.status),
                     ("%s: open"):format(address.endpoint(open.addr, s.port)) },
        fix = other_family and ("make the server listen on %s as well (bind [::] with IPV6_V6ONLY off, or add a "
          .. "listener), or connect to %s"):format(r.addr, address.endpoint(open.addr, s.port))
          or ("connect to %s, or make %s accept connections too"):format(address.endpoint(open.addr, s.port), r.addr),
      }
    end
  end
end

-- Behind a hop (facts.args.via: a forwarder or a DNAT rule sent the
-- connection here) the client is the forwarder, which cannot be told to
-- connect elsewhere: the app must listen where it connects. "socat (pid 12)",
-- "the DNAT rule in chain OUTPUT".
local function via_text(via)
  if via.kind == "dnat" then
    return "the DNAT rule" .. (via.chain and (" in chain " .. via.chain) or "")
  end
  return (via.tool or "the forwarder") .. (via.pid and (" (pid " .. via.pid .. ")") or "")
end

-- The app's fix, said by the hops check for the namespace or container it runs in.
local function hop_fix(facts, s, l, wildcard)
  local r = s.r
  return ("make %s listen on %s (or on every address, %s) instead of %s only: %s connects to %s"):format(
    describe.holders(l.processes) or "the server", r.addr, wildcard, l.addr, via_text(facts.args.via),
    address.endpoint(r.addr, s.port))
end

local function bound_elsewhere(ctx, facts, s)
  local r, l = s.r, s.same_family[1]
  local via = facts.args.via
  ctx:finding {
    id = "address-mismatch", severity = "error",
    summary = ("%s is refused: the listener on port %d is bound to %s only"):format(address.endpoint(r.addr, s.port),
      s.port, l.addr),
    evidence = { describe.listener(l), via and ("%s sends the connection to %s"):format(via_text(via),
      address.endpoint(r.addr, s.port)) or nil },
    fix = via and hop_fix(facts, s, l, r.family == "inet6" and "[::]" or "0.0.0.0")
      or ("connect to %s, or make the server bind %s (or 0.0.0.0 / [::] for every address)"):format(
        address.endpoint(l.addr, s.port), r.addr),
  }
end

local function other_family(ctx, facts, s)
  local r, l = s.r, s.other_family[1]
  local reach = l.addr == "::" and "::1" or l.addr == "0.0.0.0" and "127.0.0.1" or l.addr
  ctx:finding {
    id = "family-mismatch", severity = "error",
    summary = ("%s resolves to %s (%s) but the listener is %s only"):format(
      s.target.given_host or s.target.host, r.addr,
      r.family == "inet6" and "IPv6" or "IPv4", l.family == "inet6" and "IPv6" or "IPv4"),
    evidence = { describe.listener(l) },
    fix = facts.args.via and hop_fix(facts, s, l, r.family == "inet6" and "[::] with IPV6_V6ONLY off" or "0.0.0.0")
      or ("connect to %s, or make the server listen on both families "
        .. "(bind [::] with IPV6_V6ONLY off, or add a %s listener)"):format(address.endpoint(reach, s.port),
        r.family == "inet6" and "[::]" or "0.0.0.0"),
  }
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not s then
    return
  elseif s.any_open then
    return partly_reachable(ctx, s)
  elseif not (s.here_is_local and s.r.status == "refused" and #s.accepting == 0) then
    return
  end
  if #s.same_family > 0 then
    bound_elsewhere(ctx, facts, s)
  elseif #s.other_family > 0 then
    other_family(ctx, facts, s)
  end
end

return check
