-- cr.sys.resolver: what decides how a name becomes an address — the hosts:
-- line of nsswitch.conf, gai.conf ordering rules, host.conf and resolv.conf.
local util = require "connrecipe.sysutil"

local resolver = {}

local function uncommented_lines(text, comment)
  local out = {}
  for n, line in util.lines(text) do
    local content = util.trim((line:gsub(comment .. ".*$", "")))
    if content ~= "" then
      out[#out + 1] = { n = n, text = content }
    end
  end
  return out
end

--- nsswitch.conf -> the sources of the hosts: database, e.g. {"files", "dns"}
--- (action items like "[NOTFOUND=return]" kept as written), and the line.
function resolver.parse_nsswitch(text)
  for _, l in ipairs(uncommented_lines(text, "#")) do
    local rest = l.text:match("^hosts:%s*(.*)$")
    if rest then
      return util.words(rest), rest
    end
  end
end

--- gai.conf -> {precedence = { {prefix, value} }, label = {...}, scopev4 = {...}, reload}
function resolver.parse_gai(text)
  local gai = { precedence = {}, label = {}, scopev4 = {} }
  for _, l in ipairs(uncommented_lines(text, "#")) do
    local w = util.words(l.text)
    if (w[1] == "precedence" or w[1] == "label" or w[1] == "scopev4") and w[2] and w[3] then
      local list = gai[w[1]]
      list[#list + 1] = { prefix = w[2], value = math.tointeger(tonumber(w[3])), line = l.n }
    elseif w[1] == "reload" then
      gai.reload = w[2] == "yes" or w[2] == "true"
    end
  end
  return gai
end

--- host.conf -> {multi = bool, order = {...}}
function resolver.parse_host_conf(text)
  local conf = {}
  for _, l in ipairs(uncommented_lines(text, "#")) do
    local key, value = l.text:match("^(%S+)%s+(.-)$")
    if key == "multi" then
      conf.multi = value == "on"
    elseif key == "order" then
      conf.order = {}
      for item in value:gmatch("[^,%s]+") do
        conf.order[#conf.order + 1] = item
      end
    end
  end
  return conf
end

--- resolv.conf -> {nameservers, search, domain, options = {ndots = 1, rotate = true, ...}}
function resolver.parse_resolv(text)
  local r = { nameservers = {}, search = {}, options = {} }
  for _, l in ipairs(uncommented_lines(text, "[#;]")) do
    local w = util.words(l.text)
    if w[1] == "nameserver" and w[2] then
      r.nameservers[#r.nameservers + 1] = w[2]
    elseif w[1] == "search" then
      r.search = { table.unpack(w, 2) } -- the last search/domain line wins
      r.domain = nil
    elseif w[1] == "domain" and w[2] then
      r.domain = w[2]
      r.search = { w[2] }
    elseif w[1] == "options" then
      for i = 2, #w do
        local k, v = w[i]:match("^([^:]+):(.*)$")
        if k then
          r.options[k] = math.tointeger(tonumber(v)) or v
        else
          r.options[w[i]] = true
        end
      end
    end
  end
  return r
end

local default_paths = {
  nsswitch = "/etc/nsswitch.conf",
  gai = "/etc/gai.conf",
  host_conf = "/etc/host.conf",
  resolv = "/etc/resolv.conf",
}

--- cr.sys.resolver([paths]) -> {hosts = {...}, hosts_line, gai, multi, host_conf,
--- nameservers, search, domain, options, missing = {path...}}.
--- paths overrides the file locations: {nsswitch, gai, host_conf, resolv}.
function resolver.resolver(paths)
  paths = paths or {}
  local function path(k)
    return paths[k] or default_paths[k]
  end
  local r = { missing = {} }
  local function load(k)
    local text, err = util.read(path(k))
    if not text then
      r.missing[#r.missing + 1] = err
    end
    return text
  end
  local ns = load("nsswitch")
  if ns then
    r.hosts, r.hosts_line = resolver.parse_nsswitch(ns)
  end
  if not r.hosts then
    -- glibc's built-in default when nsswitch.conf has no hosts: line
    r.hosts, r.hosts_default = { "dns", "[!UNAVAIL=return]", "files" }, true
  end
  local gai = load("gai")
  r.gai = gai and resolver.parse_gai(gai) or { precedence = {}, label = {}, scopev4 = {} }
  local hc = load("host_conf")
  r.host_conf = hc and resolver.parse_host_conf(hc) or {}
  r.multi = r.host_conf.multi == true
  local rc = load("resolv")
  if rc then
    local parsed = resolver.parse_resolv(rc)
    r.nameservers, r.search, r.domain, r.options = parsed.nameservers, parsed.search, parsed.domain, parsed.options
  else
    r.nameservers, r.search, r.options = {}, {}, {}
  end
  return r
end

return resolver
