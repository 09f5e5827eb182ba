-- How diagnose's findings name things: the processes holding a socket, a
-- listener, the namespace it is in, a firewall rule, an age, the target
-- with another port.
local address = require "connrecipe.address"
local containers = require "connrecipe.containers"
local cr = require "connrecipe"

local describe = {}

--- "nginx (pid 123)" or "nginx (pids 123, 124)" for a socket's holders, or nil
function describe.holders(processes)
  if not processes or #processes == 0 then
    return nil
  end
  local by_comm, order = {}, {}
  for _, p in ipairs(processes) do
    if not by_comm[p.comm] then
      by_comm[p.comm] = {}
      order[#order + 1] = p.comm
    end
    table.insert(by_comm[p.comm], p.pid)
  end
  local parts = {}
  for _, comm in ipairs(order) do
    local pids = by_comm[comm]
    table.sort(pids)
    parts[#parts + 1] = ("%s (pid%s %s)"):format(comm, #pids > 1 and "s" or "", table.concat(pids, ", "))
  end
  return table.concat(parts, ", ")
end

--- "127.0.0.1:8080 held by nginx (pid 12)", with the family of a [::] listener
--- and the device it is bound to ("0.0.0.0%eth0:8080", as ss shows it)
function describe.listener(l)
  local where = address.endpoint(l.addr, l.port)
  if l.dev then
    where = where:gsub(":(%d+)$", "%%" .. l.dev:gsub("%%", "%%%%") .. ":%1")
  end
  if l.family == "inet6" and l.addr == "::" then
    where = where .. (l.v6only == false and " (dual-stack: IPv6 and IPv4)" or " (IPv6 only)")
  elseif l.v6only then
    where = where .. " (IPv6 only)"
  end
  local owner = describe.holders(l.processes) or ("owner unknown" .. (l.owner_unknown_reason and
    (": " .. l.owner_unknown_reason) or ""))
  return where .. " held by " .. owner
end

-- "web1" when the container's name is known (escaped: an engine's data), else
-- the id as tables show it
local function container_text(id, name, list)
  local c = not name and list and containers.find(list, id)
  name = name or (c and c.name)
  return name and cr.text.escape(name) or id:sub(1, 12)
end

--- "netns web1, container 3f2a..." (or its name, set on the listener or
--- found in `containers`, a list connrecipe.containers read) for a listener
--- in another namespace
function describe.netns_of(l, containers_list)
  local parts = { "netns " .. (l.netns_name or tostring(l.netns)) }
  if l.container then
    parts[#parts + 1] = "container " .. container_text(l.container, l.container_name, containers_list)
  end
  for _, p in ipairs(l.processes or {}) do
    if p.container and not l.container then
      parts[#parts + 1] = "container " .. container_text(p.container, p.container_name, containers_list)
      break
    end
  end
  return table.concat(parts, ", ")
end

--- "nft inet filter input: tcp dport 8080 drop"
function describe.rule(rule)
  local where = table.concat({ rule.source or "?", rule.family or "", rule.table or "", rule.chain or "" }, " ")
  where = where:gsub("%s+", " ")
  return ("%s: %s%s"):format(where, rule.text or rule.action or "?", rule.certain == false and " (uncertain)" or "")
end

--- How long ago something started: "3 s", "2 min", "5 h", "2 days"
function describe.age(seconds)
  if not seconds then
    return "?"
  elseif seconds < 120 then
    return ("%d s"):format(math.floor(seconds))
  elseif seconds < 7200 then
    return ("%d min"):format(seconds // 60)
  elseif seconds < 172800 then
    return ("%d h"):format(seconds // 3600)
  end
  return ("%d days"):format(seconds // 86400)
end

--- The target with another port. With a listener bound to one address, that
--- address, unless it is what the target's name means anyway (localhost).
function describe.with_port(target, port, listener)
  local host = target.host
  local bound = listener and not address.is_wildcard(listener.addr) and listener.addr
  if bound and bound ~= host and not (host == "localhost" and (bound == "127.0.0.1" or bound == "::1")) then
    host = bound
  end
  local where = address.endpoint(host, port)
  if target.scheme then
    return ("%s://%s%s"):format(target.scheme, where, target.path or "")
  end
  return where
end

return describe
