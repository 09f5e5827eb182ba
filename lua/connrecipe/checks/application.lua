-- What the server did after accepting (facts.after_connect, from the
-- probe's settle window and the protocol spoken when it waited): closed or
-- reset at once, refused the client in its own words (redis protected mode,
-- pg_hba.conf, host not allowed, too many clients), answered in another
-- protocol, failed the request, or never answered it. A connection accepted
-- and then dropped is not reachable: connrecipe.checks.reachable asks
-- application.failing first.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = {
  ids = { "accepted-then-closed", "accepted-then-reset", "application-refused", "protocol-mismatch",
          "application-error", "no-answer", "auth-required" },
  needs = "after_connect", -- without facts.after_connect run finds nothing (checklist.lazy: not even loaded then)
}

-- Why the application refuses, and the fix, by the speaker's reason.
local REFUSALS = {
  ["protected-mode"] = {
    why = "redis runs in protected mode: no password is set, so it serves only loopback clients",
    fix = "give redis a password (requirepass, or an ACL user) and use it in the client; or bind it to the "
      .. "addresses clients use and set protected-mode no only on a trusted network",
  },
  ["host-not-allowed"] = {
    why = "the server does not allow this client's host",
    fix = { postgres = "add a pg_hba.conf line for this client (host DATABASE USER %s/32 scram-sha-256) and "
              .. "reload (SELECT pg_reload_conf(), or pg_ctl reload)",
            mysql = "create or grant the user for this host (CREATE USER 'USER'@'%s' ...; GRANT ...), or connect "
              .. "from a host the account allows" },
  },
  ["too-many-clients"] = {
    why = "the server is at its connection limit",
    fix = "find who holds the connections (ss -tnp state established '( sport = :PORT )'), pool or close them, "
      .. "or raise the limit (redis maxclients, PostgreSQL max_connections, MySQL max_connections)",
  },
  ["host-blocked"] = {
    why = "the server blocked this host after too many failed connections",
    fix = "FLUSH HOSTS (mysqladmin flush-hosts), then raise max_connect_errors or fix the failing client",
  },
  ["starting"] = {
    why = "the server is starting up, shutting down or recovering",
    fix = "wait for it, or read its log for why it does not finish starting",
  },
}

--- The conversation, when there was one, and the listener that accepted it.
local function conversation(facts)
  local s = situation.of(facts)
  local conv = facts.after_connect
  if not (s and s.any_open and conv) then
    return nil
  end
  local l = situation.accepting(s.here, conv.addr, s.port)[1]
  return conv, s, l
end

local function is_mismatch(conv)
  return conv.protocol ~= nil and conv.said ~= nil and conv.answer == nil
end

--- application.failing(facts) -> true when the connection was accepted but a
--- client is refused or dropped (closed, reset, refused, another protocol,
--- a failed request)
function check.failing(facts)
  local conv = conversation(facts)
  if not conv then
    return false
  end
  local outcome = conv.answer and conv.answer.outcome
  return conv.state == "closed" or conv.state == "reset" or conv.state == "error"
    or (conv.state == "silent" and conv.said == nil and (conv.reply_end == "closed" or conv.reply_end == "reset"))
    or outcome == "refused" or outcome == "error" or is_mismatch(conv)
end

-- Evidence: who accepted, and what it said.
local function evidence(conv, l, extra)
  local out = {}
  if l then
    out[#out + 1] = "accepted by " .. describe.listener(l)
  end
  if conv.sent then
    out[#out + 1] = "sent " .. conv.sent
  end
  if conv.said and not conv.answer then -- an answer has the server's words already
    out[#out + 1] = "the server said " .. conv.said
  end
  for _, e in ipairs(extra or {}) do
    out[#out + 1] = e
  end
  return out
end

-- Who accepted: the local holder, else the server of the protocol spoken.
local function holder(l, conv)
  local name = l and describe.holders(l.processes)
  return name or (conv and conv.protocol and ("the " .. conv.protocol .. " server")) or "the server"
end

local function dropped(ctx, conv, s, l)
  local where = address.endpoint(conv.addr, s.port)
  local reset = conv.state == "reset" or conv.reply_end == "reset"
  local when = conv.state == "silent" and ("when it got the request (%s), without a word"):format(conv.sent or "?")
    or ("at once (within %g s, before the client said anything)"):format(conv.settle)
  ctx:finding {
    id = reset and "accepted-then-reset" or "accepted-then-closed", severity = "error",
    summary = ("%s accepted the connection and %s it %s"):format(where, reset and "reset" or "closed", when),
    evidence = evidence(conv, l, { conv.read_errno and ("read: " .. conv.read_errno) or nil }),
    fix = ("%s drops new connections: read its log (connection limits, access rules, TLS or protocol errors); "
      .. "a process that accepts and closes at once is often a proxy whose upstream is down, or an app that "
      .. "listens on loopback only behind a forwarder"):format(holder(l, conv)),
  }
end

local function refused(ctx, conv, s, l)
  local a = conv.answer
  local entry = REFUSALS[a.reason] or { why = "the server refuses the client", fix = "read the server's log" }
  local fix = type(entry.fix) == "table" and (entry.fix[conv.protocol] or entry.fix.postgres) or entry.fix
  fix = fix:gsub("%%s", conv.client_addr or "ADDRESS")
  ctx:finding {
    id = "application-refused", severity = "error",
    summary = ("%s accepts connections, but %s refuses this client: %s"):format(
      address.endpoint(conv.addr, s.port), holder(l, conv), a.words),
    evidence = evidence(conv, l, { entry.why }),
    fix = fix,
  }
end

local function mismatch(ctx, conv, s, l)
  local like = conv.looks_like
  local tls_hint = like == "tls" and conv.protocol == "http" and "; the port speaks TLS: use https://" or ""
  ctx:finding {
    id = "protocol-mismatch", severity = "error",
    summary = ("%s does not answer as %s%s: %s"):format(address.endpoint(conv.addr, s.port), conv.protocol,
      like and (" (it answers like " .. like .. ")") or "", conv.said),
    evidence = evidence(conv, l),
    fix = ("connect with the protocol %s speaks%s, or point the client at the %s port"):format(holder(l),
      tls_hint, conv.protocol),
  }
end

local function answered(ctx, conv, s, l)
  local a, where = conv.answer, address.endpoint(conv.addr, s.port)
  if a.outcome == "error" then
    ctx:finding {
      id = "application-error", severity = "error",
      summary = ("%s accepts connections, but %s fails the request: %s"):format(where, holder(l, conv), a.words),
      evidence = evidence(conv, l),
      fix = (a.detail == 502 or a.detail == 503 or a.detail == 504)
        and "the server is a proxy whose upstream fails: diagnose the upstream it forwards to"
        or ("read %s's log for the failure"):format(holder(l, conv)),
    }
  elseif a.outcome == "auth" then
    ctx:finding {
      id = "auth-required", severity = "info",
      summary = ("%s takes clients and asks for credentials: %s"):format(where, a.words),
      evidence = evidence(conv, l),
    }
  end
end

function check.run(ctx, facts)
  local conv, s, l = conversation(facts)
  if not conv then
    return
  end
  if check.failing(facts) and not conv.answer and not is_mismatch(conv) then
    return dropped(ctx, conv, s, l)
  elseif is_mismatch(conv) then
    return mismatch(ctx, conv, s, l)
  elseif conv.answer and conv.answer.outcome == "refused" then
    return refused(ctx, conv, s, l)
  elseif conv.answer then
    return answered(ctx, conv, s, l)
  elseif conv.state == "silent" and conv.sent and not conv.said then
    ctx:finding {
      id = "no-answer", severity = "warn",
      summary = ("%s accepted the connection but did not answer %s within %g s"):format(
        address.endpoint(conv.addr, s.port), conv.sent, s.timeout),
      evidence = evidence(conv, l),
      fix = ("%s may be hung or speak another protocol: look at its state (top, its log)"):format(holder(l, conv)),
    }
  end
end

return check
