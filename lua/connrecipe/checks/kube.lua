-- kube-proxy rejects (or drops) connections to a Service without endpoints:
-- its rule names the Service, and the fix is the Service's endpoints, never
-- the rule (kube-proxy puts it back).
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = { ids = { "service-no-endpoints" } }

-- "ns/svc:port has no endpoints" / "has no local endpoints" (iptables
-- comments; nft map element comments are the same text).
function check.service_of(comment)
  if type(comment) ~= "string" then
    return nil
  end
  local ns, svc, port, kind = comment:match("^%s*([%w.-]+)/([%w.-]+):?([%w.-]*) has no (.*)endpoints")
  if not ns then
    return nil
  end
  return { namespace = ns, service = svc, port = port ~= "" and port or nil, only_local = kind == "local " }
end

function check.run(ctx, facts)
  local s = situation.of(facts)
  if not s or s.any_open then
    return
  end
  for _, rule in ipairs(situation.firewall_hits(facts, { reject = true, drop = true })) do
    local svc = check.service_of(rule.comment)
    if svc then
      local name = svc.namespace .. "/" .. svc.service .. (svc.port and (":" .. svc.port) or "")
      ctx:finding {
        id = "service-no-endpoints", severity = "error",
        summary = ("%s is %s by kube-proxy: Service %s has no %sendpoints"):format(
          address.endpoint(s.r.addr, s.port), rule.action == "drop" and "dropped" or "rejected", name,
          svc.only_local and "local " or ""),
        evidence = { describe.rule(rule), "comment: " .. rule.comment },
        fix = ("look at the Service's endpoints (kubectl get endpointslices -n %s -l "
          .. "kubernetes.io/service-name=%s): its selector matches no ready pod%s; kube-proxy owns the rule and "
          .. "restores it, do not delete it"):format(svc.namespace, svc.service,
          svc.only_local and " on this node (externalTrafficPolicy/internalTrafficPolicy Local)" or ""),
      }
      return
    end
  end
end

return check
