-- cr.sys: kernel settings, protocol counters, security context. Fast local
-- file reads (synchronous); cr.sys.interfaces is C (src/lua/l_sys.c), the
-- netns variants of interfaces and counters run `ip` through cr.exec.
local cr = require "connrecipe"
local util = require "connrecipe.sysutil"

local sys = {}

local function sysctl_path(name)
  if name:find("/", 1, true) then
    return "/proc/sys/" .. name:gsub("^/proc/sys/", "")
  end
  return "/proc/sys/" .. name:gsub("%.", "/")
end

--- cr.sys.sysctl(name) -> number, or the value as a string (several fields are
--- separated by single spaces), or nil, reason.
function sys.sysctl(name)
  if type(name) ~= "string" or name == "" or name:find("%.%.") then
    error("bad argument #1 to 'sysctl' (a name like \"net.core.somaxconn\" expected)", 2)
  end
  local path = sysctl_path(name)
  local text, err, code = util.read(path)
  if not text then
    if code == "ENOENT" then
      return nil, name .. " not on this system (" .. path .. " not found)", code
    end
    return nil, err, code
  end
  text = util.trim(text)
  if text:match("^%-?%d+$") then
    return math.tointeger(tonumber(text)) or tonumber(text)
  end
  return (text:gsub("%s+", " "))
end

--- cr.sys.ipv6_enabled() -> true, or false, reason; nil, reason, code when
--- the sysctl could not be read (unread is not "no IPv6")
function sys.ipv6_enabled()
  local all, err, code = sys.sysctl("net.ipv6.conf.all.disable_ipv6")
  if all == nil and code ~= "ENOENT" then
    return nil, err, code
  elseif all == nil then
    return false, "the kernel has no IPv6 (booted with ipv6.disable=1 or module not loaded)"
  end
  if all == 1 then
    return false, "net.ipv6.conf.all.disable_ipv6 = 1"
  end
  local lo = sys.sysctl("net.ipv6.conf.lo.disable_ipv6")
  if lo == 1 then
    return false, "net.ipv6.conf.lo.disable_ipv6 = 1 (no ::1)"
  end
  return true
end

-- "8080,9000-9010" -> { {8080, 8080}, {9000, 9010} }
local function parse_port_list(s)
  local ranges = {}
  for item in s:gmatch("[^,%s]+") do
    local a, b = item:match("^(%d+)%-(%d+)$")
    a = tonumber(a or item)
    b = tonumber(b or item)
    if a and b then
      ranges[#ranges + 1] = { math.tointeger(a), math.tointeger(b) }
    end
  end
  return ranges
end

--- cr.sys.port_range() -> {first, last, reserved = { {from, to} }, available}
--- The ephemeral ports connect() picks from: ip_local_port_range minus
--- ip_local_reserved_ports.
function sys.port_range()
  local range, err = sys.sysctl("net.ipv4.ip_local_port_range")
  if not range then
    return nil, err
  end
  local first, last = tostring(range):match("^(%d+) (%d+)$")
  if not first then
    return nil, "cannot parse net.ipv4.ip_local_port_range: " .. tostring(range)
  end
  first, last = math.tointeger(tonumber(first)), math.tointeger(tonumber(last))
  local reserved_text = sys.sysctl("net.ipv4.ip_local_reserved_ports") or ""
  local reserved = parse_port_list(tostring(reserved_text))
  local available = last - first + 1
  for _, r in ipairs(reserved) do
    local lo, hi = math.max(r[1], first), math.min(r[2], last)
    if lo <= hi then
      available = available - (hi - lo + 1)
    end
  end
  return { first = first, last = last, reserved = reserved, available = available }
end

--- cr.sys.somaxconn() -> net.core.somaxconn (the cap on listen backlogs)
function sys.somaxconn()
  return sys.sysctl("net.core.somaxconn")
end

-- "TcpExt: A B\nTcpExt: 1 2" pairs -> { TcpExt = {A = 1, B = 2} }
local function parse_counter_pairs(text, into)
  local pending = {}
  for _, line in util.lines(text) do
    local group, rest = line:match("^(%w+):%s*(.*)$")
    if group then
      local fields = util.words(rest)
      if pending[group] == nil and fields[1] and not fields[1]:match("^%-?%d+$") then
        pending[group] = fields
      elseif pending[group] then
        local t = into[group] or {}
        for i, key in ipairs(pending[group]) do
          local v = fields[i] and tonumber(fields[i])
          t[key] = v and (math.tointeger(v) or v)
        end
        into[group] = t
        pending[group] = nil
      end
    end
  end
  return into
end
sys._parse_counters = parse_counter_pairs

local function conntrack_counts(read)
  local count = read("/proc/sys/net/netfilter/nf_conntrack_count")
  local max = read("/proc/sys/net/netfilter/nf_conntrack_max")
  if count and max then
    return { count = math.tointeger(tonumber(util.trim(count))), max = math.tointeger(tonumber(util.trim(max))) }
  end
end

--- cr.sys.counters([netns]) -> { TcpExt = {...}, Tcp = {...}, Udp = {...},
--- IpExt, Ip, Icmp, ..., conntrack = {count, max} (when loaded) }.
--- netns: a pid (reads /proc/PID/net/...) or a name under /run/netns (runs
--- `ip netns exec NAME cat ...`, so call it inside a task).
function sys.counters(netns)
  local texts = {}
  if netns == nil or tostring(netns):match("^%d+$") then
    local base = netns and ("/proc/" .. netns .. "/net/") or "/proc/net/"
    for _, f in ipairs({ "netstat", "snmp" }) do
      local text, err = util.read(base .. f)
      if not text then
        return nil, err
      end
      texts[#texts + 1] = text
    end
  else
    local r, err = util.run({ "cat", "/proc/net/netstat", "/proc/net/snmp" }, netns)
    if not r then
      return nil, err
    end
    texts[1] = r.stdout
  end
  local counters = {}
  for _, text in ipairs(texts) do
    parse_counter_pairs(text, counters)
  end
  if not counters.Tcp then
    return nil, "no Tcp counters found in /proc/net/snmp"
  end
  if netns == nil then
    counters.conntrack = conntrack_counts(util.read)
  end
  return counters
end

-- `ip -j addr` output -> the same shape as the C cr.sys.interfaces
local function interfaces_from_ip_json(text)
  local list, err = util.json_decode(text)
  if type(list) ~= "table" then
    return nil, "cannot parse ip -j addr output: " .. tostring(err)
  end
  local result = {}
  for _, link in ipairs(list) do
    local flags = {}
    for _, f in ipairs(type(link.flags) == "table" and link.flags or {}) do
      flags[f] = true
    end
    local info = type(link.linkinfo) == "table" and link.linkinfo or {}
    local data = type(info.info_data) == "table" and info.info_data or {}
    local entry = {
      name = link.ifname,
      index = link.ifindex,
      up = flags.UP == true,
      running = flags.LOWER_UP == true or link.operstate == "UP" or link.operstate == "UNKNOWN" and flags.UP == true,
      loopback = flags.LOOPBACK == true,
      kind = type(info.info_kind) == "string" and info.info_kind or nil,
      master = type(link.master) == "string" and link.master or nil,
      addrs = {},
    }
    entry.vrf_table = entry.kind == "vrf" and math.tointeger(data.table) or nil
    for _, a in ipairs(type(link.addr_info) == "table" and link.addr_info or {}) do
      entry.addrs[#entry.addrs + 1] = { addr = a["local"], family = a.family, prefix = a.prefixlen }
    end
    result[#result + 1] = entry
  end
  return result
end

-- Adds what rtnetlink says of each device (kind, master, a VRF's table) to
-- getifaddrs' list; unread, the fields stay absent and links_error says why.
local function add_link_facts(list)
  local links, err = cr.sys._links()
  if not links then
    list.links_error = err
    return list
  end
  local by_index, name_of = {}, {}
  for _, l in ipairs(links) do
    by_index[l.index], name_of[l.index] = l, l.name
  end
  for _, entry in ipairs(list) do
    local l = by_index[entry.index]
    if l then
      entry.kind, entry.master, entry.vrf_table = l.kind, l.master and name_of[l.master], l.vrf_table
    end
  end
  return list
end

--- cr.sys.interfaces([netns]) -> { {name, index, up, running, loopback, kind,
--- master, vrf_table, addrs = { {addr, family, prefix} }} }. Without netns:
--- getifaddrs(3) and an rtnetlink dump in this namespace (synchronous). With
--- netns: `ip -j -d addr` in it (inside a task).
local function interfaces(netns)
  if netns == nil then
    local list, err, code = cr.sys._interfaces()
    if not list then
      return nil, err, code
    end
    return add_link_facts(list)
  end
  local r, err = util.run({ "ip", "-j", "-d", "addr", "show" }, netns)
  if not r then
    return nil, err
  end
  return interfaces_from_ip_json(r.stdout)
end

-- Reads one line-oriented key from /proc/self/status ("\n" first); found
-- by a plain find: an unanchored pattern tries every byte of the file.
local function status_field(status, key)
  local at = status:find("\n" .. key .. ":", 1, true)
  return at and status:match("^%s*([^\n]*)", at + #key + 2)
end

-- hidepid=/subset= of the /proc mount; the last one listed is the one on top.
local function proc_restricted()
  local mounts = util.read("/proc/self/mounts") or ""
  local restricted, hidepid, subset = false, nil, nil
  for _, line in util.lines(mounts) do
    local _, mountpoint, fstype, options = line:match("^(%S+) (%S+) (%S+) (%S+)")
    if mountpoint == "/proc" and fstype == "proc" then
      hidepid = options:match("hidepid=(%w+)")
      subset = options:match("subset=(%w+)")
      restricted = (hidepid ~= nil and hidepid ~= "0" and hidepid ~= "off") or subset == "pid"
    end
  end
  return restricted, hidepid, subset
end

local function container_kind()
  local env = util.read("/proc/1/environ")
  if env then
    local c = env:match("%zcontainer=([^%z]*)") or env:match("^container=([^%z]*)")
    if c and c ~= "" then
      return c, "container= in the environment of PID 1"
    end
  end
  if util.read("/.dockerenv") then
    return "docker", "/.dockerenv exists"
  end
  if util.read("/run/.containerenv") then
    return "podman", "/run/.containerenv exists"
  end
  local cgroup = util.read("/proc/1/cgroup") or ""
  for _, kind in ipairs({ "docker", "kubepods", "lxc", "containerd", "libpod" }) do
    if cgroup:find(kind, 1, true) then
      return kind, "/proc/1/cgroup mentions " .. kind
    end
  end
  return false
end

--- cr.sys.security() -> {selinux = "enforcing"|"permissive"|"disabled",
--- apparmor = bool, proc_restricted = bool, hidepid, proc_subset, uid, euid,
--- root = bool, cap_net_admin = bool, container = name|false, container_hint,
--- wsl = false|1|2}
--- cr.sys.socket_device() -> the device a new socket of this process is
--- bound to (`ip vrf exec VRF` binds every one to the VRF), or false; nil,
--- message, code when no socket could be made.
function sys.socket_device()
  return cr.sys._socket_device()
end

function sys.security()
  local s = {}
  local enforce = util.read("/sys/fs/selinux/enforce")
  if enforce then
    s.selinux = util.trim(enforce) == "1" and "enforcing" or "permissive"
  else
    s.selinux = "disabled"
  end
  local aa = util.read("/sys/module/apparmor/parameters/enabled")
  s.apparmor = aa ~= nil and util.trim(aa) == "Y"
  s.proc_restricted, s.hidepid, s.proc_subset = proc_restricted()

  local status = "\n" .. (util.read("/proc/self/status") or "")
  local uids = util.words(status_field(status, "Uid") or "")
  s.uid, s.euid = math.tointeger(tonumber(uids[1] or "")), math.tointeger(tonumber(uids[2] or ""))
  s.root = s.euid == 0
  local capeff = tonumber(status_field(status, "CapEff") or "", 16)
  s.cap_net_admin = capeff ~= nil and (capeff >> 12) & 1 == 1 -- CAP_NET_ADMIN is bit 12

  s.container, s.container_hint = container_kind()
  local osrelease = (util.read("/proc/sys/kernel/osrelease") or ""):lower()
  if osrelease:find("wsl2", 1, true) then
    s.wsl = 2
  elseif osrelease:find("microsoft", 1, true) then
    s.wsl = 1
  else
    s.wsl = false
  end
  return s
end

sys.interfaces = interfaces

return sys
