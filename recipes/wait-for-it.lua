-- wait-for-it's command line: wait for HOST:PORT, then run a command in place of this process.
--
-- The wait-for-it mode. connrecipe passes the arguments after "wait-for-it"
-- (or all of them, when it runs through a link named wait-for-it) here as
-- they are: wait-for-it's -h, -q and -t are its own. Behaves as wait-for-it
-- does: messages on stderr, exit 124 after the timeout, the command run even
-- then unless --strict; the command replaces the process (execvp), so the
-- signals a container runtime sends reach it. What differs: the probe is
-- connrecipe's (no bash, nc or timeout needed), IPv6 as [v6]:PORT, and bad
-- values are refused with a line saying which.
local target = require "connrecipe.target"
local wait = require "connrecipe.wait"

local DEFAULT_TIMEOUT = 15 -- seconds, as wait-for-it
local TIMEOUT_STATUS = 124 -- as timeout(1), which wait-for-it relies on
local USAGE_STATUS = 1 -- wait-for-it's, for bad usage and --help alike

-- The name in messages: the link's ("wait-for-it", "wait-for-it.sh"), else the mode's.
local name = cr.cli.program and cr.cli.program:match("^wait%-for%-it") and cr.cli.program or "wait-for-it"

local function usage()
  return ([[
Usage:
    %s HOST:PORT [-s] [-q] [-t SECONDS] [-- COMMAND ARGS...]
    %s -h HOST -p PORT [-s] [-q] [-t SECONDS] [-- COMMAND ARGS...]

Waits until HOST accepts TCP connections on PORT, then runs COMMAND.
    HOST:PORT, or -h HOST -p PORT, or --host=HOST --port=PORT
                            what to wait for ([ADDRESS]:PORT for IPv6)
    -t SECONDS | --timeout=SECONDS
                            give up after SECONDS (default 15; 0: no timeout)
    -s | --strict           run COMMAND only if the port came up in time
    -q | --quiet            no messages
    -- COMMAND ARGS         once the wait is over, COMMAND replaces this process
Exit status: 0 when the port came up, 124 after the timeout, 1 for bad usage;
with COMMAND, the command's own. connrecipe's wait-for-it mode: connrecipe(1).
]]):format(name, name)
end

-- A message on stderr; what the user typed (a host) is escaped, as in every line connrecipe prints.
local function say(opts, fmt, ...)
  if not opts.quiet then
    io.stderr:write(cr.text.escape(name), ": ", cr.text.escape(fmt:format(...)), "\n")
  end
end

-- A usage error: the reason (unless quiet, as wait-for-it), then the usage.
local function refuse(opts, fmt, ...)
  say(opts, fmt, ...)
  io.stderr:write(usage())
  return USAGE_STATUS
end

-- "host:port", "[v6]:port": the host and the port as written.
local function split_host_port(text)
  local host, port = text:match("^%[(.*)%]:(.*)$")
  if host then
    return host, port
  end
  return text:match("^(.*):(.-)$")
end

-- Options that take a value: "-t 5", "--timeout=5".
local short_values = { ["-h"] = "host", ["-p"] = "port", ["-t"] = "timeout" }
local long_values = { host = "host", port = "port", timeout = "timeout" }
local flags = { ["-s"] = "strict", ["--strict"] = "strict", ["-q"] = "quiet", ["--quiet"] = "quiet" }

-- Reads the arguments into opts; returns nil, or a usage error's message
-- (format and arguments), or "help".
local function parse(argv, opts)
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local long, value = a:match("^%-%-(%a+)=(.*)$")
    if a == "--" then
      opts.command = #argv > i and { table.unpack(argv, i + 1) } or nil
      return
    elseif a == "--help" then
      return "help"
    elseif flags[a] then
      opts[flags[a]] = true
    elseif short_values[a] then
      if argv[i + 1] == nil or argv[i + 1] == "" then
        return "%s needs a value", a
      end
      opts[short_values[a]], i = argv[i + 1], i + 1
    elseif long and long_values[long] then
      opts[long_values[long]] = value
    elseif a:sub(1, 1) ~= "-" and a:find(":", 1, true) then
      opts.host, opts.port = split_host_port(a)
    else
      return "Unknown argument: %s", a
    end
    i = i + 1
  end
end

-- The target to probe, or nil and why not.
local function check(opts)
  local port = math.tointeger(tonumber(opts.port))
  if not opts.port:match("^%d+$") or not port or port < 1 or port > 65535 then
    return nil, ("invalid port '%s' (expected 1-65535)"):format(opts.port)
  end
  local timeout = tonumber(opts.timeout)
  if not timeout or timeout < 0 or timeout ~= timeout or timeout == math.huge then
    return nil, ("invalid timeout '%s' (expected a number of seconds, 0 for none)"):format(opts.timeout)
  end
  opts.timeout = timeout
  local t, err = target.parse((opts.host:find(":", 1, true) and "[%s]:%d" or "%s:%d"):format(opts.host, port))
  if not t then
    return nil, err
  end
  t.display = opts.host .. ":" .. opts.port -- as wait-for-it names it
  return t
end

-- Runs the command in place of this process; returns only if it cannot.
-- Called as a function (from the REPL, -e or another recipe), connrecipe
-- goes on: the command runs as a child, and its status is returned.
local function replace_with(command)
  local err, code
  if cr.cli.recipe == "wait-for-it.lua" then
    err, code = select(2, cr.exec_replace(command))
  else
    local r
    r, err, code = cr.exec { inherit = true, table.unpack(command) }
    if r then
      return r.status
    end
  end
  io.stderr:write(cr.text.escape(name), ": ", cr.text.escape(err), "\n")
  return code == "ENOENT" and 127 or 126 -- as a shell says it
end

local function main(...)
  local opts = { timeout = tostring(DEFAULT_TIMEOUT), quiet = cr.cli.quiet }
  if cr.cli.format ~= "text" then
    io.stderr:write(name, ": prints wait-for-it's messages, not --format=", cr.cli.format, "\n")
    return USAGE_STATUS
  end
  local why, arg = parse({ ... }, opts)
  if why == "help" then
    io.stderr:write(usage()) -- as wait-for-it: on stderr
    return USAGE_STATUS
  elseif why then
    return refuse(opts, why, arg)
  elseif not opts.host or opts.host == "" or not opts.port or opts.port == "" then
    if not opts.quiet then
      io.stderr:write("Error: you need to provide a host and port to test.\n") -- wait-for-it's words
    end
    io.stderr:write(usage())
    return USAGE_STATUS
  end
  local t, err = check(opts)
  if not t then
    return refuse(opts, "%s", err)
  end
  if opts.timeout > 0 then
    say(opts, "waiting %g seconds for %s", opts.timeout, t.display)
  else
    say(opts, "waiting for %s without a timeout", t.display)
  end
  local result = wait.run({ t }, { timeout = opts.timeout, max_interval = 1 })
  local status = 0
  if result.done then
    say(opts, "%s is available after %d seconds", t.display, math.floor(result.elapsed))
  else
    say(opts, "timeout occurred after waiting %g seconds for %s", opts.timeout, t.display)
    status = TIMEOUT_STATUS
  end
  if not opts.command then
    return status
  elseif status ~= 0 and opts.strict then
    say(opts, "strict mode, refusing to execute subprocess")
    return status
  end
  return replace_with(opts.command)
end

return main(...)
