-- A URL that proxy variables send to a proxy (curl's rules), and whether
-- that proxy answers.
local check = {
  ids = { "proxy-env" },
  needs = "proxy", -- without facts.proxy run finds nothing (checklist.lazy: not even loaded then)
}

--- Does the proxy the client would use fail (then it, not the target, is the verdict)?
function check.failing(facts)
  local p = facts.proxy
  return p ~= nil and p.status ~= "open" and p.status ~= "unknown"
end

function check.run(ctx, facts)
  local p, t = facts.proxy, facts.args.target
  if not p then
    return
  end
  local host = t.given_host or t.host
  ctx:finding {
    id = "proxy-env", severity = check.failing(facts) and "error" or "warn",
    summary = ("clients honouring %s send %s to the proxy %s (%s)"):format(p.var, p.url, p.proxy, p.status),
    evidence = { ("%s=%s"):format(p.var, p.proxy), "no_proxy does not cover " .. host },
    fix = ("add %s to no_proxy (export no_proxy=$no_proxy,%s), or unset %s"):format(host, host, p.var),
  }
end

return check
