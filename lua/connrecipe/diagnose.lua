-- Knowledge diagnose.lua draws on, kept out of the recipe so that the recipe
-- reads as the investigation: which listener accepts which address, which
-- ports look like typos of others, which program usually serves a port, how
-- to name a process, where a process sets its port.
local cr = require "connrecipe"

local diagnose = {}

-- ---- addresses ------------------------------------------------------------------

function diagnose.is_v6(addr)
  return addr:find(":", 1, true) ~= nil
end

function diagnose.is_loopback(addr)
  return addr == "::1" or addr:match("^127%.") ~= nil or addr:match("^::ffff:127%.") ~= nil
end

function diagnose.is_wildcard(addr)
  return addr == "0.0.0.0" or addr == "::"
end

--- "127.0.0.1:8080", "[::1]:8080"
function diagnose.endpoint(addr, port)
  if diagnose.is_v6(addr) then
    return ("[%s]:%d"):format(addr, port)
  end
  return ("%s:%d"):format(addr, port)
end

--- The set of this host's own addresses (loopback and every interface's).
function diagnose.local_addresses()
  local set = {}
  local ifaces = cr.sys.interfaces()
  for _, iface in ipairs(ifaces or {}) do
    for _, a in ipairs(iface.addrs or {}) do
      set[a.addr] = iface.name
    end
  end
  return set
end

--- Does a TCP listener accept connections to addr? Wildcards take every
--- address of their family; "[::]" without v6only takes IPv4 too.
function diagnose.accepts(l, addr)
  if l.addr == addr then
    return true
  end
  local v6 = diagnose.is_v6(addr)
  if l.family == "inet" then
    return not v6 and l.addr == "0.0.0.0"
  end
  if l.addr == "::" then
    return v6 or l.v6only == false
  end
  return l.addr == "::ffff:" .. addr
end

--- Listeners of a family, as "the other family" checks need it.
function diagnose.family_of(addr)
  return diagnose.is_v6(addr) and "inet6" or "inet"
end

-- ---- ports that look like typos ------------------------------------------------------

-- Damerau-Levenshtein distance <= 1 between two digit strings
local function one_edit_apart(a, b)
  if a == b then
    return false
  end
  if #a == #b then
    local diffs = {}
    for i = 1, #a do
      if a:sub(i, i) ~= b:sub(i, i) then
        diffs[#diffs + 1] = i
      end
    end
    if #diffs == 1 then
      return true
    end
    return #diffs == 2 and diffs[2] == diffs[1] + 1
      and a:sub(diffs[1], diffs[1]) == b:sub(diffs[2], diffs[2])
      and a:sub(diffs[2], diffs[2]) == b:sub(diffs[1], diffs[1])
  end
  if math.abs(#a - #b) ~= 1 then
    return false
  end
  local long, short = a, b
  if #b > #a then
    long, short = b, a
  end
  for i = 1, #long do
    if long:sub(1, i - 1) .. long:sub(i + 1) == short then
      return true
    end
  end
  return false
end

--- Does `port` look like a typo or an off-by-a-few of `wanted` (8081 or 8008 for 8080)?
function diagnose.near_port(wanted, port)
  if port == wanted then
    return false
  end
  return math.abs(port - wanted) <= 3 or one_edit_apart(tostring(wanted), tostring(port))
end

-- ---- programs ----------------------------------------------------------------------------

-- The programs (comm, as the kernel shows it) that usually serve a port.
diagnose.usual_programs = {
  [21] = { "vsftpd", "proftpd" }, [22] = { "sshd" }, [25] = { "master", "exim4", "sendmail" },
  [53] = { "named", "dnsmasq", "unbound", "systemd-resolve" },
  [80] = { "nginx", "apache2", "httpd", "caddy", "haproxy", "lighttpd" },
  [443] = { "nginx", "apache2", "httpd", "caddy", "haproxy", "lighttpd" },
  [389] = { "slapd" }, [631] = { "cupsd" }, [873] = { "rsync" }, [1883] = { "mosquitto" },
  [2379] = { "etcd" }, [3306] = { "mysqld", "mariadbd" }, [4222] = { "nats-server" },
  [5432] = { "postgres", "postmaster" }, [5672] = { "beam.smp", "rabbitmq-server" },
  [6379] = { "redis-server", "valkey-server", "keydb-server" }, [8500] = { "consul" },
  [9090] = { "prometheus" }, [11211] = { "memcached" }, [27017] = { "mongod" },
}

--- "nginx (pid 123)" or "nginx (pids 123, 124)" for a listener's holders
function diagnose.holders(processes)
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

--- Where a process's command line or environment sets a port:
--- {"cmdline: --port 8081", "environment: PORT=8081"}
function diagnose.port_settings(proc)
  local found = {}
  -- some servers rewrite their title into one string ("redis-server 127.0.0.1:6380")
  local argv = {}
  for _, a in ipairs(proc.cmdline or {}) do
    for word in a:gmatch("%S+") do
      argv[#argv + 1] = word
    end
  end
  -- "--port 8081", "--port=8081", "-p 8081", "--http-port=8081", "127.0.0.1:8081"
  local function port_option(flag)
    return flag == "-p" or flag:match("^%-%-?[%w-]*%-port$") or flag:match("^%-%-?port$")
  end
  for i, arg in ipairs(argv) do
    local flag, value = arg:match("^(%-%-?[%w-]+)=(%d+)$")
    if flag and port_option(flag) then
      found[#found + 1] = ("cmdline: %s=%s"):format(flag, value)
    elseif port_option(arg) and argv[i + 1] and argv[i + 1]:match("^%d+$") then
      found[#found + 1] = ("cmdline: %s %s"):format(arg, argv[i + 1])
    elseif arg:match("^%[?[%x:.]*[%x.]%]?:%d+$") and (arg:find(".", 1, true) or arg:find("[", 1, true)) then
      found[#found + 1] = "cmdline: " .. arg -- an address:port, as servers print their title
    end
  end
  local f = io.open(("/proc/%d/environ"):format(proc.pid), "rb")
  if f then
    local env = f:read("a")
    f:close()
    for var, value in ("\0" .. env):gmatch("%z([%w_]*)=(%d+)%f[%z]") do
      if var == "PORT" or var:match("_PORT$") then -- PORT, HTTP_PORT; not TRANSPORT, PASSPORT_ID
        found[#found + 1] = ("environment: %s=%s"):format(var, value)
      end
    end
  end
  return found
end

--- A short description of how long ago something started: "3 s", "2 min", "5 h", "2 days"
function diagnose.age(seconds)
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

--- Quoting rules for the report: "nft inet filter input: tcp dport 8080 drop"
function diagnose.rule_text(rule)
  local where = table.concat({ rule.source or "?", rule.family or "", rule.table or "", rule.chain or "" }, " ")
  where = where:gsub("%s+", " ")
  return ("%s: %s%s"):format(where, rule.text or rule.action or "?", rule.certain == false and " (uncertain)" or "")
end

--- The similar Unix socket paths among listening ones: same directory or a
--- basename sharing a word with the wanted one.
function diagnose.similar_paths(wanted, sockets)
  local dir, base = wanted:match("^(.*)/([^/]*)$")
  local stem = (base or wanted):gsub("^@", ""):match("^[%a%d]+") or ""
  local out = {}
  for _, s in ipairs(sockets) do
    local p = s.path
    if p and p ~= wanted then
      local pdir, pbase = p:match("^(.*)/([^/]*)$")
      if (dir and pdir == dir) or (#stem >= 3 and (pbase or p):find(stem, 1, true)) then
        out[#out + 1] = s
      end
    end
  end
  return out
end

return diagnose
