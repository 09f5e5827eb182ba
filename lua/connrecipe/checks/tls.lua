-- TLS as the client meets it (facts.tls, a real handshake through libssl):
-- plain HTTP spoken to a TLS port, TLS spoken to a plain port (curl's "wrong
-- version number"), a handshake the server ends, and the certificate: expired
-- or not yet valid, for another name, self-signed, or from an issuer the
-- system does not trust. A TLS problem is never reachable: connrecipe.checks.reachable
-- asks tls.failing first.
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"
local application = require "connrecipe.checks.application"

local check = {
  ids = { "tls-expected", "tls-not-spoken", "tls-handshake-failed", "tls-cert-expired", "tls-name-mismatch",
          "tls-cert-self-signed", "tls-untrusted" },
  needs = "tls", -- without facts.tls run finds nothing (checklist.lazy: not even loaded then)
}

local function day(epoch)
  return os.date("!%Y-%m-%d", epoch)
end

-- The certificate problems, in the order a client reports them.
local function certificate_problems(tls)
  local out = {}
  if tls.not_after and tls.now and tls.not_after < tls.now then
    out[#out + 1] = { id = "tls-cert-expired", what = ("the certificate expired on %s"):format(day(tls.not_after)),
                      fix = "renew the certificate (certbot renew, or a new one from the CA) and reload the server" }
  elseif tls.not_before and tls.now and tls.not_before > tls.now then
    out[#out + 1] = { id = "tls-cert-expired", what = ("the certificate is not valid before %s"):format(
      day(tls.not_before)), fix = "check the clocks (timedatectl) of this host and the server" }
  end
  if tls.name_match == false then
    out[#out + 1] = { id = "tls-name-mismatch",
                      what = ("the certificate is not for %s (it names %s)"):format(tls.name,
                        #(tls.san or {}) > 0 and table.concat(tls.san, ", ") or tostring(tls.subject)),
                      fix = "connect with a name the certificate has, or issue one that includes this name (SAN)",
                      client = "connect with a name the certificate has",
                      server = ("give %%s a certificate that includes %s (SAN)"):format(tostring(tls.name)) }
  end
  if tls.self_signed and tls.verify ~= "ok" then
    out[#out + 1] = { id = "tls-cert-self-signed",
                      what = "the certificate is self-signed: no client trusts it by default",
                      fix = "use a certificate from a CA the clients trust, or give clients this one "
                        .. "(curl --cacert FILE; update-ca-certificates)",
                      client = "trust this certificate (curl --cacert FILE; update-ca-certificates)",
                      server = "give %s a certificate from a CA the clients trust" }
  elseif tls.verify ~= "ok" and tls.verify_code ~= 10 then -- 10: expired, said above
    out[#out + 1] = { id = "tls-untrusted", what = ("the chain does not verify: %s"):format(tostring(tls.verify)),
                      fix = "serve the full chain (the intermediate certificates), or make clients trust its issuer",
                      client = "trust its issuer (curl --cacert FILE; update-ca-certificates)",
                      server = "make %s serve the full chain (the intermediate certificates)" }
  end
  return out
end

-- The processes holding the listener that accepted.
local function accepting_processes(s)
  local out = {}
  for _, l in ipairs(situation.accepting(s.here, s.open.addr, s.port)) do
    for _, p in ipairs(l.processes or {}) do
      out[#out + 1] = p
    end
  end
  return out
end

local function plain_to_tls(tls, conv)
  return tls.handshake and not tls.expected and conv and conv.protocol == "http"
end

local function tls_to_plain(tls)
  return tls.expected and not tls.handshake and tls.received ~= nil and tls.looks_like ~= "tls"
end

--- tls.failing(facts) -> true when the client's TLS (or its absence) fails
function check.failing(facts)
  local tls = facts.tls
  if not tls or tls.read_error or tls.status ~= "open" then
    return false
  end
  if plain_to_tls(tls, facts.after_connect) or (tls.expected and not tls.handshake) then
    return true
  end
  return tls.expected and #certificate_problems(tls) > 0
end

local function certificate_evidence(tls)
  return {
    ("%s, %s"):format(tostring(tls.version), tostring(tls.cipher)),
    ("subject %s, issuer %s"):format(tostring(tls.subject), tostring(tls.issuer)),
    ("names: %s"):format(#(tls.san or {}) > 0 and table.concat(tls.san, ", ") or "none (no SAN)"),
    ("valid %s to %s"):format(day(tls.not_before or 0), day(tls.not_after or 0)),
    ("verification: %s"):format(tostring(tls.verify)),
  }
end

local function handshake_failed(ctx, tls, where)
  if tls_to_plain(tls) then
    return ctx:finding {
      id = "tls-not-spoken", severity = "error",
      summary = ("%s does not speak TLS (%s): it answered in plain text%s: %s"):format(where, tostring(tls.error),
        tls.looks_like and (" (" .. tls.looks_like .. ")") or "", tls.received_line or tls.received),
      evidence = { "the server sent " .. tls.received },
      fix = "connect without TLS (http:// instead of https://), or enable TLS on the server "
        .. "(nginx: listen PORT ssl, with ssl_certificate)",
    }
  end
  ctx:finding {
    id = "tls-handshake-failed", severity = "error",
    summary = ("the TLS handshake with %s failed: %s"):format(where, tostring(tls.error)),
    evidence = { tls.received and ("the server sent " .. tls.received) or nil,
                 tls.peer_end and ("the server's end: " .. tls.peer_end) or nil },
    fix = "compare the TLS versions and ciphers both sides allow (openssl s_client -connect HOST:PORT), "
      .. "and read the server's log",
  }
end

function check.run(ctx, facts)
  local s, tls = situation.of(facts), facts.tls
  if not (s and s.any_open and tls and tls.status == "open") or application.failing(facts) then
    return
  end
  local where = address.endpoint(facts.after_connect and facts.after_connect.addr or s.open.addr, s.port)
  if plain_to_tls(tls, facts.after_connect) then
    local conv = facts.after_connect
    return ctx:finding {
      id = "tls-expected", severity = "error",
      summary = ("%s speaks TLS, but the client speaks plain HTTP to it%s"):format(where,
        conv.said and (": it answered " .. (conv.answer and conv.answer.words or conv.said)) or ""),
      evidence = certificate_evidence(tls),
      fix = ("connect with TLS: https://%s/"):format(s.target.display),
    }
  elseif tls.expected and not tls.handshake then
    return handshake_failed(ctx, tls, where)
  elseif not tls.expected then
    return
  end
  local server = describe.holders(accepting_processes(s)) or "the server"
  for _, p in ipairs(certificate_problems(tls)) do
    -- behind a hop the client's half and the server's are said apart
    -- (connrecipe.checks.hops names where the server's applies)
    ctx:finding { id = p.id, severity = "error", summary = ("%s: %s"):format(where, p.what),
                  evidence = certificate_evidence(tls), fix = p.fix,
                  fix_client = p.client, fix_server = p.server and p.server:format(server) }
  end
end

return check
