-- The name does not resolve: the EAI reason and where the lookup went.
local check = { ids = { "name-unresolved" } }

local function failure(facts)
  local res = facts.resolve or {}
  if res.error then
    return res.error, res.code
  elseif not facts.probe then
    return "resolution failed during the probe", "EAI_AGAIN"
  end
end

function check.run(ctx, facts)
  local t = facts.args.target
  if t.kind == "unix" then
    return
  end
  local err, code = failure(facts)
  if not err then
    return
  end
  local conf = facts.resolver or {}
  local evidence = { ("%s (%s)"):format(tostring(err), tostring(code)),
                     "nsswitch hosts: " .. tostring(conf.hosts_line or "?") }
  if conf.nameservers and #conf.nameservers > 0 then
    evidence[#evidence + 1] = "nameservers: " .. table.concat(conf.nameservers, ", ")
  end
  local hosts = facts.hosts or {}
  local listed = hosts.entries
  if hosts.error then
    evidence[#evidence + 1] = ("/etc/hosts could not be read (%s): whether it names %s is unknown"):format(
      hosts.error, t.host)
  elseif listed and #listed > 0 then
    evidence[#evidence + 1] = ("/etc/hosts line %d names %s, but the hosts: line above does not consult files"):format(
      listed[1].line, t.host)
  else
    evidence[#evidence + 1] = "/etc/hosts has no entry for " .. t.host
  end
  ctx:finding {
    id = "name-unresolved", severity = "error",
    summary = ("%s does not resolve: %s"):format(t.host, tostring(code)),
    evidence = evidence,
    fix = ("check the spelling; add '127.0.0.1 %s' to /etc/hosts if it is this host, or fix DNS"):format(t.host),
  }
end

return check
