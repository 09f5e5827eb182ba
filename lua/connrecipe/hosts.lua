-- cr.sys.hosts: /etc/hosts as the files NSS backend reads it.
local cr = require "connrecipe"
local util = require "connrecipe.sysutil"

local hosts = {}

local function address_family(addr)
  if addr:match("^%d+%.%d+%.%d+%.%d+$") then
    for octet in addr:gmatch("%d+") do
      if tonumber(octet) > 255 then
        return nil
      end
    end
    return "inet"
  end
  local bare = addr:gsub("%%.*$", "") -- fe80::1%eth0
  if bare:find(":", 1, true) and bare:match("^[%x:%.]+$") then
    return "inet6"
  end
  return nil
end
hosts._family = address_family

--- cr.sys.parse_hosts(text) -> entries {addr, family, names, line}, and the
--- lines that are not valid entries as a second list {line, text, reason}.
function hosts.parse_hosts(text)
  local entries, bad = {}, {}
  for n, line in util.lines(text) do
    local content = line:gsub("#.*$", "")
    local fields = util.words(content)
    if #fields > 0 then
      local family = address_family(fields[1])
      if not family then
        bad[#bad + 1] = { line = n, text = line, reason = "not an IP address: " .. fields[1] }
      elseif #fields < 2 then
        bad[#bad + 1] = { line = n, text = line, reason = "address without a name" }
      else
        local names = {}
        for i = 2, #fields do
          names[#names + 1] = fields[i]
        end
        entries[#entries + 1] = { addr = fields[1], family = family, names = names, line = n }
      end
    end
  end
  return entries, bad
end

--- cr.sys.hosts([path]) -> entries, bad lines (see parse_hosts), or nil, reason
function hosts.hosts(path)
  path = path or "/etc/hosts"
  local text, err = util.read(path)
  if not text then
    return nil, err
  end
  return hosts.parse_hosts(text)
end


--- cr.sys.hosts_lookup(name [, path]) -> the entries naming `name` (case
--- insensitive), in file order: glibc returns the first for gethostbyname and,
--- with `multi on` in host.conf, all of them for getaddrinfo. The file is
--- streamed in C, line by line: a hosts file of millions of lines costs no
--- more memory than a short one.
function hosts.hosts_lookup(name, path)
  path = path or "/etc/hosts"
  local lines, err, code = cr.sys._hosts_scan(name, path)
  if not lines then
    return nil, err, code
  end
  local found = {}
  for _, l in ipairs(lines) do
    local entries = hosts.parse_hosts(l.text) -- a line naming it that is not an entry is left out
    if entries[1] then
      entries[1].line = l.line
      found[#found + 1] = entries[1]
    end
  end
  return found
end

return hosts
