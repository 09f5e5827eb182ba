-- kube-proxy rejects (or drops) connections to a Service without endpoints:
-- its rule names the Service, and the fix is the Service's endpoints, never
-- the rule (kube-proxy puts it back).
local address = require "connrecipe.address"
local describe = require "connrecipe.describe"
local situation = require "connrecipe.checks.situation"

local check = {
  ids = { "service-no-endpoints" },
  needs = "firewall", -- without facts.firewall run finds nothing (checklist.lazy: not even loaded then)
}

-- "ns/svc:port has no endpoints" / "has no local endpoints" (iptables
-- comments); in kube-proxy's nft table the element of the
-- no-endpoint-services (or no-endpoint-nodeports) map says "ns/svc:port".
function check.service_of(comment, text)
  if type(comment) ~= "string" then
    return nil
  end
  local ns, svc, port, kind = comment:match("^%s*([%w.-]+)/([%w.-]+):?([%w.-]*) has no (.*)endpoints")
  if not ns and type(text) == "string" and text:find("@no%-endpoint%-[%w-]+") then
    ns, svc, port = comment:match("^%s*([%w.-]+)/([%w.-]+):?([%w.-]*)%s*$")
    kind = ""
  end
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
    local svc, comment = check.service_of(rule.comment, rule.text), rule.comment
    for _, j in ipairs(rule.via or {}) do -- nft: the map entry that jumped to the reject chain
      if not svc then
        svc, comment = check.service_of(j.comment, j.text), j.comment
      end
    end
    if svc then
      local name = svc.namespace .. "/" .. svc.service .. (svc.port and (":" .. svc.port) or "")
      ctx:finding {
        id = "service-no-endpoints", severity = "error",
        summary = ("%s is %s by kube-proxy: Service %s has no %sendpoints"):format(
          address.endpoint(s.r.addr, s.port), rule.action == "drop" and "dropped" or "rejected", name,
          svc.only_local and "local " or ""),
        evidence = { describe.rule(rule), "comment: " .. comment },
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
