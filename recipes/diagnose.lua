-- Why a connection is refused or times out: the root cause, the process responsible, and the fix.
-- Investigates like an expert would: resolves the name as a client does,
-- probes every address, dumps the listeners of every network namespace with
-- their owners, reads queue state, counters, firewall rules, proxy variables
-- and service state (connrecipe.investigate: the facts), then runs the checks
-- below over those facts (connrecipe.checks.*). Copy it for a site playbook.
local investigate = require "connrecipe.investigate"
local checklist = require "connrecipe.checklist"

local function check(name)
  return checklist.lazy(name) -- connrecipe.checks.NAME, loaded when it first runs
end

-- The checks, in the order that decides the verdict: the report is headed by
-- the most severe finding, and among equals by the first recorded. A proxy
-- the client cannot reach explains everything after it; the program that
-- should serve the port explains the refusal better than "nothing listens".
local CHECKS = {
  check "resolve", -- name-unresolved
  check "unix", -- the Unix socket target's causes
  check "proxy", -- proxy-env
  check "container", -- container-not-running, container-port-unused, container-loopback, ... (before what the
  -- forwarder in front of the container did after accepting: it is why)
  check "hops", -- upstream-failing, upstream-not-followed, forwarding-loop, follow-depth-limit (forwarders, DNAT: the
  -- upstream's own verdict)
  check "application", -- accepted-then-closed, accepted-then-reset, application-refused, protocol-mismatch, ...
  check "tls", -- tls-expected, tls-not-spoken, tls-handshake-failed, tls-cert-expired, tls-name-mismatch, ...
  check "reachable", -- reachable
  check "holders", -- process-stopped (the listener's holders: over reachable, the kernel's handshake)
  check "service", -- starting-up, service-not-running, port-mismatch (the expected program)
  check "address", -- address-mismatch, family-mismatch
  check "netns", -- other-netns
  check "listener", -- udp-only, no-listener, port-mismatch (a near port)
  check "vrf", -- bound-to-vrf, client-in-vrf (a listener in a VRF the client is not in, or the other way round)
  check "device", -- bound-to-device
  check "kube", -- service-no-endpoints (kube-proxy's reject/drop rule names the Service)
  check "firewall", -- firewall-reject, firewall-drop, firewall-check-incomplete
  check "backlog", -- backlog-full
  check "refusal", -- refused-unexplained (what was checked, what is left)
  check "connect", -- timeout, connection-reset, ipv6-disabled, ephemeral-ports-exhausted, ...
  check "remote", -- remote-refused, remote-timeout, host-unreachable
  check "gaps", -- listener-check-incomplete, owner-unknown
}

-- what run returns for bad usage: the framework says it (one line, exit 2)
local function usage_error(message)
  return nil, ("%s (see 'connrecipe diagnose --help')"):format(message), 2
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then
    return nil, err
  end
  local text = f:read("a")
  f:close()
  return text
end

-- The facts of a saved run, or nil, the usage error's message and status.
local function replayed(ctx, args)
  if args.target or args.process or args.unit or args.save_facts then
    return usage_error("--from-facts replays a saved run: give no TARGET, --process, --unit or --save-facts")
  end
  local text, err = ctx:check("facts saved in " .. args.from_facts, read_file, args.from_facts)
  if not text then
    return usage_error("--from-facts: cannot read " .. tostring(err))
  end
  local facts, why = investigate.decode(text)
  if not facts then
    return usage_error(("--from-facts: %s: %s"):format(args.from_facts, why))
  end
  return facts
end

return cr.recipe {
  name = "diagnose",
  description = "Why a connection is refused or times out: the root cause, the process responsible, and the fix.",
  params = {
    { "target", type = "target", positional = true, optional = true,
      help = "host:port, [v6]:port, PORT (this host), a URL, unix:/path or unix:@name (none with --from-facts)" },
    { "timeout", type = "number", default = 2, min = 0.001, max = 3600, metavar = "S",
      help = "seconds to wait for each probe" },
    { "settle", type = "number", default = 0.25, min = 0, max = 60, metavar = "S",
      help = "seconds to watch what the server does right after accepting (0: do not)" },
    { "process", metavar = "NAME", help = "the program that should be listening (its comm or executable name)" },
    { "unit", metavar = "NAME", help = "the systemd unit that should be listening" },
    { "save-facts", metavar = "FILE", help = "write everything read (JSON: addresses, listeners, processes with "
      .. "their command lines, rules) to FILE, to replay or attach to a bug report" },
    { "from-facts", metavar = "FILE", help = "read nothing: give the verdict from the facts a run saved in FILE" },
  },
  run = function(ctx, args)
    local facts
    if args.from_facts then
      local message, status
      facts, message, status = replayed(ctx, args)
      if not facts then
        return nil, message, status
      end
      ctx.target = facts.args.target
    elseif not args.target then
      return usage_error("missing TARGET")
    else
      local out, err
      if args.save_facts then
        -- 0600, never through a link: the facts hold command lines and environments
        out, err = cr.open_private(args.save_facts)
      end
      if args.save_facts and not out then
        return usage_error("--save-facts: cannot write " .. tostring(err))
      end
      facts = investigate.target(ctx, args)
      if out then
        local ok, werr = out:write(investigate.encode(facts))
        local closed, cerr = out:close()
        if not (ok and closed) then
          return nil, ("--save-facts: cannot write %s: %s"):format(args.save_facts, tostring(werr or cerr)), 3
        end
      end
    end
    checklist.run(ctx, facts, CHECKS)
  end,
}
