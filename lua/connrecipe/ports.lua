-- Port knowledge diagnose draws on: which ports look like typos of others,
-- which program usually serves a port, where a process sets its port.
local ports = {}

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
function ports.near(wanted, port)
  if port == wanted then
    return false
  end
  return math.abs(port - wanted) <= 3 or one_edit_apart(tostring(wanted), tostring(port))
end

-- The programs (comm, as the kernel shows it) that usually serve a port.
ports.usual_programs = {
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

--- Where a command line (argv list) and an environment (the text of
--- /proc/PID/environ, or nil) set a port:
--- {"cmdline: --port 8081", "environment: PORT=8081"}
function ports.settings(cmdline, environ)
  local found = {}
  -- some servers rewrite their title into one string ("redis-server 127.0.0.1:6380")
  local argv = {}
  for _, a in ipairs(cmdline or {}) do
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
  for var, value in ("\0" .. (environ or "")):gmatch("%z([%w_]*)=(%d+)%f[%z]") do
    if var == "PORT" or var:match("_PORT$") then -- PORT, HTTP_PORT; not TRANSPORT, PASSPORT_ID
      found[#found + 1] = ("environment: %s=%s"):format(var, value)
    end
  end
  return found
end

return ports
