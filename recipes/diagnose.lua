-- Why a connection is refused or times out: the root cause, the process responsible, and the fix.
-- Investigates like an expert would: resolves the name as a client does,
-- probes every address, dumps the listeners of every network namespace with
-- their owners, reads queue state, counters, firewall rules, proxy variables
-- and service state, then names the cause. Copy it for a site playbook.
local D = require "connrecipe.diagnose"

local RECENT = 10 -- seconds: a process younger than this may still be starting

-- ---- fixes that name the exact command --------------------------------------------------

local function delete_rule_command(rule)
  if rule.policy then
    return ("set the %s chain's policy to accept, or add an accept rule before it"):format(rule.chain)
  elseif rule.source == "nft" and rule.handle then
    return ("nft delete rule %s %s %s handle %s"):format(rule.family, rule.table, rule.chain, rule.handle)
  elseif rule.text and rule.text:match("^%-A ") then
    local tool = (rule.family == "inet6" or rule.family == "ip6") and "ip6tables" or "iptables"
    if rule.backend == "legacy" then
      tool = tool .. "-legacy"
    end
    return ("%s -t %s %s"):format(tool, rule.table or "filter", rule.text:gsub("^%-A ", "-D "))
  end
  return "remove or narrow the rule above"
end

-- The target with another port. With a listener bound to one address, that
-- address, unless it is what the target's name means anyway (localhost).
local function with_port(target, port, listener)
  local host = target.host
  local bound = listener and not D.is_wildcard(listener.addr) and listener.addr
  if bound and bound ~= host and not (host == "localhost" and (bound == "127.0.0.1" or bound == "::1")) then
    host = bound
  end
  local where = D.endpoint(host, port)
  if target.scheme then
    return ("%s://%s%s"):format(target.scheme, where, target.path or "")
  end
  return where
end

-- ---- facts ----------------------------------------------------------------------------------

-- The TCP listeners of every namespace with their owners: list, info, and
-- the message when no table could be read at all.
local function listeners(ctx)
  local list, info = ctx:check("listeners, all namespaces, with owners", cr.listeners,
    { proto = "tcp", netns = "all", processes = true })
  if type(list) ~= "table" then
    return {}, {}, (tostring(info or "?"):gsub("^cannot read the socket tables: ", ""))
  end
  return list, info or {}, nil
end

-- A namespace that went away during the dump held no listener: not a gap.
local VANISHED = { ["No such process"] = true, ["No such file or directory"] = true }

-- What the listener dump could not read: `own`, why this namespace's tables
-- are unread (then "nothing listens" cannot be told), and `others`, one line
-- per other namespace that could not be read.
local function dump_gaps(f, info, err)
  local gaps = { others = {} }
  if err then
    gaps.own = err
    return gaps
  end
  for _, ns in ipairs(info.namespaces or {}) do
    if ns.error and not VANISHED[ns.error] then
      if ns.via == "self" or (f.netns and ns.inode == f.netns) then
        gaps.own = ns.error
      else
        gaps.others[#gaps.others + 1] = ("netns %s: %s"):format(ns.name or tostring(ns.inode), ns.error)
      end
    end
  end
  gaps.own = gaps.own or info.error
  -- without root, other users' processes do not show their namespace: one
  -- only they are in is not even listed (as root, what is left unreadable is
  -- beyond any privilege we could ask for)
  local hidden = info.namespaces_unreadable or 0
  if hidden > 0 and not f.root then
    gaps.hidden = hidden
  end
  -- with hidepid (or subset=pid) other users' processes are not even listed,
  -- so they are not counted above either
  if not f.root then
    local sec = cr.sys.security() or {}
    if info.hidepid or sec.proc_restricted then
      gaps.hidepid = sec.hidepid and ("hidepid=" .. sec.hidepid) or (sec.proc_restricted and "subset=pid" or "hidepid")
    end
  end
  local tcp4 = (info.sources or {}).tcp4 -- "missing" is fine for tcp6 (no IPv6), never for tcp4
  if not gaps.own and tcp4 ~= "netlink" and tcp4 ~= "proc" then
    gaps.own = "no IPv4 TCP table could be read (neither sock_diag nor /proc/net/tcp)"
  end
  return gaps
end

local function own_netns(ctx)
  local me = ctx:check("own network namespace", cr.process.get, cr.pid)
  return me and me.netns
end

-- ListenDrops counts every SYN or connection a listener dropped, overflows
-- of a full accept queue included (each of those counts in ListenOverflows too).
local function overflows(counters)
  local ext = counters and counters.TcpExt or {}
  return ext.ListenDrops or ext.ListenOverflows or 0
end

-- The drop counters of this namespace's TCP listeners on a port, by inode:
-- read before and after the probe, they tell which listener dropped it.
local function listener_drops(port)
  local list = cr.listeners { proto = "tcp", port = port }
  local by_inode = {}
  for _, l in ipairs(list or {}) do
    by_inode[l.inode] = l.drops -- nil from the /proc/net fallback
  end
  return by_inode
end

--- Gathers what the decision needs, concurrently where it can.
local function gather(ctx, args)
  local t = args.target
  local f = { local_addrs = D.local_addresses(), counters_before = cr.sys.counters(),
              drops_before = listener_drops(t.port) }
  local dump
  f.probe, dump, f.netns = cr.all {
    function()
      return ctx:check("probe " .. t.display, cr.probe.tcp, t.host, t.port, { timeout = args.timeout })
    end,
    function()
      local list, info, err = listeners(ctx)
      return { list = list, info = info, err = err }
    end,
    function()
      return own_netns(ctx)
    end,
  }
  f.counters_after = cr.sys.counters()
  f.drops_after = listener_drops(t.port)
  f.overflow_growth = overflows(f.counters_after) - overflows(f.counters_before)
  f.here, f.elsewhere, f.on_port = {}, {}, {}
  for _, l in ipairs(dump.list) do
    if l.state == "listen" then
      local bucket = (not f.netns or l.netns == f.netns) and f.here or f.elsewhere
      bucket[#bucket + 1] = l
      if l.port == t.port then
        f.on_port[#f.on_port + 1] = l
      end
    end
  end
  f.root = (cr.sys.security() or {}).root
  f.gaps = dump_gaps(f, dump.info, dump.err)
  return f
end

-- Connecting to a loopback address, one of ours, or a wildcard reaches this host.
local function is_local(f, addr)
  return D.is_loopback(addr) or D.is_wildcard(addr) or f.local_addrs[addr] ~= nil
end

-- ---- describing listeners and processes ------------------------------------------------------

local function describe(l)
  local where = D.endpoint(l.addr, l.port)
  if l.family == "inet6" and l.addr == "::" then
    where = where .. (l.v6only == false and " (dual-stack: IPv6 and IPv4)" or " (IPv6 only)")
  elseif l.v6only then
    where = where .. " (IPv6 only)"
  end
  local owner = D.holders(l.processes) or ("owner unknown" .. (l.owner_unknown_reason and
    (": " .. l.owner_unknown_reason) or ""))
  return where .. " held by " .. owner
end

local function in_other_netns(l)
  local parts = { "netns " .. (l.netns_name or tostring(l.netns)) }
  if l.container then
    parts[#parts + 1] = "container " .. l.container
  end
  for _, p in ipairs(l.processes or {}) do
    if p.container and not l.container then
      parts[#parts + 1] = "container " .. p.container:sub(1, 12) -- the id as tables show it
      break
    end
  end
  return table.concat(parts, ", ")
end

local function accepting(f, addr, port)
  if D.is_wildcard(addr) then -- the kernel sends a connect to 0.0.0.0 / :: to loopback
    addr = D.is_v6(addr) and "::1" or "127.0.0.1"
  end
  -- the kernel's lookup takes the most specific listeners: the address
  -- itself, else a wildcard of its family, else a dual-stack [::]; only those
  -- (several with SO_REUSEPORT) can have taken the connection
  local out, best = {}, 0
  for _, l in ipairs(f.here) do
    if l.port == port and D.accepts(l, addr) then
      local score = (l.addr == addr or l.addr == "::ffff:" .. addr) and 3
        or l.family == D.family_of(addr) and 2 or 1
      if score > best then
        out, best = {}, score
      end
      if score == best then
        out[#out + 1] = l
      end
    end
  end
  return out
end

local function owners_unknown(ctx, f)
  local unknown = 0
  for _, l in ipairs(f.on_port) do
    if l.owner_unknown then
      unknown = unknown + 1
    end
  end
  if unknown > 0 then
    ctx:finding {
      id = "owner-unknown", severity = "info",
      summary = ("the owner of %d listener(s) on port %d could not be seen"):format(unknown, f.on_port[1].port),
      evidence = { f.on_port[1].owner_unknown_reason or "not permitted" },
      fix = "run as root to see the owners of other users' sockets: sudo connrecipe diagnose ...",
    }
  end
end

-- ---- findings: what the listener check could not read -----------------------------------------

local function gap_lines(gaps, max)
  local lines = {}
  if gaps.own then
    lines[#lines + 1] = "this namespace's socket tables: " .. gaps.own
  end
  for i, line in ipairs(gaps.others) do
    if max and #lines >= max then
      lines[#lines + 1] = ("and %d more namespace(s)"):format(#gaps.others - i + 1)
      break
    end
    lines[#lines + 1] = line
  end
  if gaps.hidden then
    lines[#lines + 1] = ("the network namespace of %d process(es) of other users: Permission denied (not root); "
      .. "a namespace only they are in is not listed"):format(gaps.hidden)
  end
  if gaps.hidepid then
    lines[#lines + 1] = ("/proc is mounted with %s and this is not root: other users' processes are hidden "
      .. "(Permission denied), and a network namespace only they are in is not listed"):format(gaps.hidepid)
  end
  return lines
end

local function gaps_fix(args, gaps)
  local why = table.concat(gap_lines(gaps), "\n")
  if why:find("Permission denied", 1, true) or why:find("not permitted", 1, true) then
    return ("run as root to read every table and namespace: sudo connrecipe diagnose %s"):format(args.target.display)
  end
  return "list the listeners with ss -tlnp (in a namespace: ip netns exec NAME ss -tlnp); connrecipe reads them "
    .. "through sock_diag netlink or /proc/net"
end

-- The refusal, when this namespace's tables could not be read: no claim
-- about what listens.
local function listeners_unknown(ctx, args, f, evidence)
  for _, line in ipairs(gap_lines(f.gaps, 10)) do
    evidence[#evidence + 1] = "not read: " .. line
  end
  ctx:finding {
    id = "listener-check-incomplete", severity = "error", priority = 1,
    summary = ("port %d is refused, and what listens on it is unknown: this namespace's socket tables could not be "
      .. "read (%s)"):format(args.target.port, f.gaps.own),
    evidence = evidence,
    fix = gaps_fix(args, f.gaps),
  }
end

-- Any other gap, beside the verdict: it may hide the listener the findings
-- did not name. Other namespaces matter only when the target is not reachable.
local function listener_check_incomplete(ctx, args, f, any_open)
  local gaps = f.gaps
  local others = #gaps.others > 0 or gaps.hidden or gaps.hidepid
  if ctx:has("listener-check-incomplete") or not (gaps.own or (others and not any_open)) then
    return
  end
  local summary
  if gaps.own then
    summary = ("the listener check is incomplete: this namespace's socket tables could not be read (%s); %s"):format(
      gaps.own, any_open and "the accepting process is not named" or "the findings may miss a listener")
  elseif #gaps.others > 0 then
    summary = ("the listener check is incomplete: the listeners of %d other network namespace(s) could not be "
      .. "read%s, so one there would not be named"):format(#gaps.others, gaps.hidden
        and (", and the namespaces of %d process(es) of other users not even listed"):format(gaps.hidden) or "")
  elseif gaps.hidden then
    summary = ("the listener check is incomplete: the network namespaces of %d process(es) of other users could "
      .. "not be read (not root), so a listener in another network namespace only they are in would not be "
      .. "named"):format(gaps.hidden)
  else
    summary = ("the listener check is incomplete: /proc is mounted with %s, so other users' processes are not "
      .. "listed and a listener in a network namespace only they are in would not be named"):format(gaps.hidepid)
  end
  ctx:finding {
    id = "listener-check-incomplete", severity = any_open and "info" or "warn",
    summary = summary, evidence = gap_lines(gaps, 10), fix = gaps_fix(args, gaps),
  }
end

-- ---- findings: the probe succeeded --------------------------------------------------------------

local function reachable(ctx, args, f)
  local t, open = args.target, nil
  local failed = {}
  for _, r in ipairs(f.probe.results) do
    if r.status == "open" then
      open = open or r
    else
      failed[#failed + 1] = r
    end
  end
  local holders = {}
  for _, l in ipairs(accepting(f, open.addr, t.port)) do
    holders[#holders + 1] = describe(l)
  end
  local proxy = ctx:has("proxy-env")
  if not (proxy and proxy.severity == "error") then
    ctx:verdict("reachable") -- warnings below do not change the headline
  end
  ctx:finding {
    id = "reachable", severity = "ok",
    summary = ("%s accepts connections (%s in %.2f ms)%s"):format(t.display, D.endpoint(open.addr, t.port), open.ms,
      holders[1] and ("; " .. holders[1]:match("held by (.*)$")) or ""),
    evidence = holders,
  }
  for _, r in ipairs(failed) do
    local other_family = r.family ~= open.family
    local first = f.probe.results[1] == r
    ctx:finding {
      id = other_family and "family-mismatch" or "address-mismatch", severity = "warn",
      summary = ("%s resolves to %s too, which is %s%s"):format(t.host, D.endpoint(r.addr, t.port), r.status,
        first and ": clients that try only the first address fail" or ""),
      evidence = { ("%s: %s"):format(D.endpoint(r.addr, t.port), r.status),
                   ("%s: open"):format(D.endpoint(open.addr, t.port)) },
      fix = other_family and ("make the server listen on %s as well (bind [::] with IPV6_V6ONLY off, or add a "
        .. "listener), or connect to %s"):format(r.addr, D.endpoint(open.addr, t.port))
        or ("connect to %s, or make %s accept connections too"):format(D.endpoint(open.addr, t.port), r.addr),
    }
  end
end

-- ---- findings: nothing accepts on the target's port --------------------------------------------

-- Why the process list cannot show every process, or nil: /proc shows none
-- at all, not even this one (a /proc replaced or unreadable), or other
-- users' processes are hidden from us (hidepid, subset=pid) and we are not root.
local function blind_process_list(all, root)
  local self_seen = false
  for _, p in ipairs(all) do
    if p.pid == cr.pid then
      self_seen = true
      break
    end
  end
  if #all == 0 or not self_seen then
    return ("/proc lists %d process(es), and not this one (pid %d): the process list is not visible"):format(#all,
      cr.pid)
  end
  local sec = not root and cr.sys.security() or {}
  if sec.proc_restricted then
    return ("/proc is mounted with %s and this is not root: other users' processes are hidden"):format(
      sec.hidepid and ("hidepid=" .. sec.hidepid) or "subset=pid")
  end
end

-- The processes expected to serve the port: --process, --unit, or the usual
-- program; the reason why, and why the list may miss them (blind_process_list).
local function expected_processes(ctx, args, netns, root)
  local usual = D.usual_programs[args.target.port]
  if not (args.process or args.unit or usual) then
    return {}, nil, nil, {} -- no program is expected: spare the process walk
  end
  local all = ctx:check("process list", cr.process.list)
  all = type(all) == "table" and all or {}
  local blind = blind_process_list(all, root)
  local out, why, elsewhere = {}, nil, {}
  local function keep(p) -- a process in another network namespace cannot serve this one's port
    if p.pid ~= cr.pid and (not netns or not p.netns or p.netns == netns) then
      out[#out + 1] = p
    elseif p.pid ~= cr.pid then
      elsewhere[#elsewhere + 1] = p -- it runs, just not here
    end
  end
  if args.process then
    why = "--process " .. args.process
    for _, p in ipairs(all) do
      local exe = p.cmdline and p.cmdline[1] and p.cmdline[1]:match("[^/]+$")
      if p.comm == args.process or exe == args.process then
        keep(p)
      end
    end
  elseif args.unit then
    why = "--unit " .. args.unit
    local unit = args.unit:find("%.") and args.unit or (args.unit .. ".service")
    for _, p in ipairs(all) do
      if p.unit == unit then
        keep(p)
      end
    end
  else
    if usual then
      why = ("%s usually serves port %d"):format(table.concat(usual, "/"), args.target.port)
      for _, p in ipairs(all) do
        for _, name in ipairs(usual) do
          if p.comm == name then
            keep(p)
          end
        end
      end
    end
  end
  return out, why, blind, elsewhere
end

-- No expected process was seen, but the list cannot show them all: no claim
-- that the service is not running.
local function process_check_incomplete(ctx, args, why, blind, st)
  local evidence = { "no visible process matches " .. why, blind }
  if st then
    evidence[#evidence + 1] = ("unit %s: %s/%s"):format(args.unit, tostring(st.ActiveState), tostring(st.SubState))
  end
  ctx:finding {
    id = "process-check-incomplete", severity = "warn",
    summary = ("cannot tell whether %s is running: %s"):format(args.unit or args.process, blind),
    evidence = evidence,
    fix = ("run as root with the host's /proc (or check with systemctl status / ps in a full view); "
      .. "then: sudo connrecipe diagnose %s"):format(args.target.display),
  }
end

local function listening_ports_of(f, pid)
  local ports, seen = {}, {}
  for _, l in ipairs(f.here) do
    for _, p in ipairs(l.processes or {}) do
      if p.pid == pid and not seen[l.port] then
        seen[l.port] = true
        ports[#ports + 1] = l
      end
    end
  end
  table.sort(ports, function(a, b)
    return a.port < b.port
  end)
  return ports
end

local function unit_state(ctx, args)
  if not args.unit then
    return nil
  end
  local st, err = ctx:check("service " .. args.unit, cr.service.status, args.unit)
  if not st then
    return nil, err
  end
  local logs = ctx:check("service logs", cr.service.logs, args.unit, 5)
  return st, nil, logs
end

local function service_not_running(ctx, args, why, st, logs)
  local evidence = { "no process matches " .. why }
  if st then
    evidence[#evidence + 1] = ("unit %s: %s/%s, result %s, %s restarts"):format(args.unit, tostring(st.ActiveState),
      tostring(st.SubState), tostring(st.Result), tostring(st.NRestarts))
    for _, line in ipairs(type(logs) == "table" and logs or {}) do
      evidence[#evidence + 1] = "log: " .. tostring(line)
    end
  end
  ctx:finding {
    id = "service-not-running", severity = "error", priority = 5,
    summary = ("%s is not running, so nothing serves port %d"):format(args.unit or args.process, args.target.port),
    evidence = evidence,
    fix = args.unit and ("systemctl start %s; journalctl -u %s -n 50 if it fails again"):format(args.unit, args.unit)
      or ("start %s (and check its logs for why it stopped)"):format(args.process),
  }
end

-- What the expected program is doing instead of listening on the port.
local function explain_expected(ctx, args, f)
  local t = args.target
  local st, st_err, logs = unit_state(ctx, args)
  if st_err and args.unit then
    ctx:finding { id = "unit-state-unknown", severity = "info",
                  summary = ("cannot read the state of %s: %s"):format(args.unit, st_err) }
  end
  if st and st.ActiveState == "activating" then
    ctx:finding { id = "starting-up", severity = "error", priority = 6,
                  summary = ("%s is still starting (activating)"):format(args.unit),
                  fix = ("wait for it: connrecipe waitfor %s --timeout 60"):format(t.display) }
    return true
  end
  local procs, why, blind, elsewhere = expected_processes(ctx, args, f.netns, f.root)
  if #procs == 0 and #elsewhere > 0 and (args.process or args.unit) then
    local p = elsewhere[1]
    ctx:finding {
      id = "other-netns", severity = "warn",
      summary = ("%s (pid %d) runs, but in another network namespace (netns %s): it cannot serve port %d here"):format(
        p.comm, p.pid, tostring(p.netns), t.port),
      evidence = { "expected because " .. why },
      fix = "connect from inside that namespace (nsenter -t PID -n ...), or run the service in this one",
    }
    return false
  end
  if #procs == 0 then
    -- systemd's word that the unit is down holds even when /proc shows nothing
    local unit_down = args.unit and st and st.ActiveState ~= "active" and st.ActiveState ~= "reloading"
    if blind and (args.process or args.unit) and not unit_down then
      process_check_incomplete(ctx, args, why, blind, st)
      return false
    end
    if args.process or (args.unit and st) then -- without systemd, no process carries a unit
      service_not_running(ctx, args, why, st, logs)
      return true
    end
    return false
  end
  if f.gaps.own then -- it runs; where it listens cannot be told
    return false
  end
  for _, p in ipairs(procs) do -- one of them listening elsewhere explains it best
    local ports = listening_ports_of(f, p.pid)
    local name = ("%s (pid %d)"):format(p.comm, p.pid)
    if #ports > 0 then
      local where = {}
      for _, l in ipairs(ports) do
        where[#where + 1] = D.endpoint(l.addr, l.port)
      end
      local evidence = { ("%s listens on %s"):format(name, table.concat(where, ", ")), "expected because " .. why }
      for _, s in ipairs(D.port_settings(p)) do
        evidence[#evidence + 1] = s
      end
      ctx:finding {
        id = "port-mismatch", severity = "error", priority = 5,
        summary = ("%s listens on port %d, not %d"):format(name, ports[1].port, t.port),
        evidence = evidence,
        fix = ("connect to %s instead, or configure %s to listen on %d"):format(with_port(t, ports[1].port, ports[1]),
          p.comm,
          t.port),
      }
      return true
    end
  end
  for _, p in ipairs(procs) do
    local name = ("%s (pid %d)"):format(p.comm, p.pid)
    if (p.age or math.huge) < RECENT then
      ctx:finding {
        id = "starting-up", severity = "error", priority = 6,
        summary = ("%s started %s ago and does not listen yet"):format(name, D.age(p.age)),
        evidence = { "expected because " .. why },
        fix = ("wait for it: connrecipe waitfor %s --timeout 60"):format(t.display),
      }
      return true
    end
  end
  local p = procs[1]
  ctx:finding {
    id = "not-listening", severity = "warn",
    summary = ("%s (pid %d) runs (for %s) but listens on no TCP port"):format(p.comm, p.pid, D.age(p.age)),
    evidence = { "expected because " .. why },
    fix = ("check its configuration and logs: why did %s not bind port %d?"):format(p.comm, t.port),
  }
  return false
end

local function near_ports(ctx, args, f)
  local t = args.target
  for _, l in ipairs(f.here) do
    if D.near_port(t.port, l.port) then
      local evidence = { describe(l) }
      local owner = l.processes and l.processes[1] and cr.process.get(l.processes[1].pid)
      for _, setting in ipairs(owner and D.port_settings(owner) or {}) do -- "--port 8081", "PORT=8081"
        evidence[#evidence + 1] = setting
      end
      ctx:finding {
        id = "port-mismatch", severity = "warn",
        summary = ("port %d looks like a typo: %s"):format(t.port, describe(l)),
        evidence = evidence,
        fix = ("if that is the service, connect to %s"):format(with_port(t, l.port, l)),
      }
    end
  end
end

-- The UDP sockets bound to the port in this namespace: a service that speaks UDP.
-- The dump alone is cheap; the /proc walk for owners only runs when one exists.
local function udp_on_port(ctx, port)
  local list = ctx:check("UDP sockets on port " .. port, cr.listeners, { proto = "udp", port = port })
  if type(list) ~= "table" or #list == 0 then
    return {}
  end
  local owned = ctx:check("owners of the UDP sockets on port " .. port, cr.listeners,
    { proto = "udp", port = port, processes = true })
  return type(owned) == "table" and owned or list
end

local function udp_only(ctx, args, udp, evidence)
  local t, u = args.target, udp[1]
  for _, s in ipairs(udp) do
    evidence[#evidence + 1] = "UDP " .. describe(s)
  end
  local addr = D.is_wildcard(u.addr) and t.host or u.addr -- a socket bound to one address answers there only
  ctx:finding {
    id = "udp-only", severity = "error", priority = 4,
    summary = ("nothing listens on TCP port %d, but UDP port %d is bound by %s: the service speaks UDP, "
      .. "not TCP"):format(t.port, t.port, D.holders(u.processes) or "a process (owner unknown)"),
    evidence = evidence,
    fix = ("talk to it over UDP (probe it: connrecipe -e 'print(cr.probe.udp(\"%s\", %d).status)'); "
      .. "if it should take TCP too, configure it to listen on TCP port %d"):format(addr, t.port, t.port),
  }
end

local function no_listener(ctx, args, f)
  local t = args.target
  local addrs = {}
  for _, r in ipairs(f.probe.results) do
    local took = r.ms and (" in %.2f ms"):format(r.ms) or ""
    addrs[#addrs + 1] = ("%s: %s%s"):format(D.endpoint(r.addr, t.port), r.status, took)
  end
  -- a UDP socket serves the target only where a TCP listener bound the same
  -- way would accept it: its address, its family's wildcard, or a dual-stack
  -- [::]; one bound elsewhere (127.0.0.2, ::1 for an IPv4 target) is evidence
  local udp = {}
  for _, s in ipairs(not f.gaps.own and udp_on_port(ctx, t.port) or {}) do
    local serves = false
    for _, r in ipairs(f.probe.results) do
      serves = serves or D.accepts(s, r.addr)
    end
    if serves then
      udp[#udp + 1] = s
    else
      addrs[#addrs + 1] = "UDP " .. describe(s) .. " (bound elsewhere: does not serve the target address)"
    end
  end
  if f.gaps.own then
    listeners_unknown(ctx, args, f, addrs)
  elseif #udp > 0 then
    udp_only(ctx, args, udp, addrs)
  else
    ctx:finding {
      id = "no-listener", severity = "error",
      summary = ("nothing listens on port %d (%s)"):format(t.port, #f.probe.results > 1 and "any address" or
        f.probe.results[1].addr),
      evidence = addrs,
      fix = ("start the service that should listen on %d, or point the client at the port it uses "
        .. "(connrecipe listeners.lua lists them)"):format(t.port),
    }
  end
  explain_expected(ctx, args, f)
  near_ports(ctx, args, f)
end

-- ---- findings: a listener exists on the port, but not for this address ----------------------------

local function mismatch(ctx, args, f, r)
  local t = args.target
  local same, other = {}, {}
  for _, l in ipairs(f.on_port) do
    if not f.netns or l.netns == f.netns then
      if l.family == D.family_of(r.addr) then
        same[#same + 1] = l
      else
        other[#other + 1] = l
      end
    end
  end
  if #same > 0 then
    local l = same[1]
    ctx:finding {
      id = "address-mismatch", severity = "error", priority = 4,
      summary = ("%s is refused: the listener on port %d is bound to %s only"):format(D.endpoint(r.addr, t.port),
        t.port, l.addr),
      evidence = { describe(l) },
      fix = ("connect to %s, or make the server bind %s (or 0.0.0.0 / [::] for every address)"):format(
        D.endpoint(l.addr, t.port), r.addr),
    }
    return true
  end
  if #other > 0 then
    local l = other[1]
    ctx:finding {
      id = "family-mismatch", severity = "error", priority = 4,
      summary = ("%s resolves to %s (%s) but the listener is %s only"):format(t.given_host or t.host, r.addr,
        r.family == "inet6" and "IPv6" or "IPv4", l.family == "inet6" and "IPv6" or "IPv4"),
      evidence = { describe(l) },
      fix = ("connect to %s, or make the server listen on both families "
        .. "(bind [::] with IPV6_V6ONLY off, or add a %s listener)"):format(D.endpoint(l.addr == "::" and "::1" or
        l.addr == "0.0.0.0" and "127.0.0.1" or l.addr, t.port), r.family == "inet6" and "[::]" or "0.0.0.0"),
    }
    return true
  end
  return false
end

local function other_netns(ctx, args, f)
  local found = {}
  for _, l in ipairs(f.elsewhere) do
    if l.port == args.target.port then
      found[#found + 1] = l
    end
  end
  if #found == 0 then
    return false
  end
  local evidence = {}
  for _, l in ipairs(found) do
    evidence[#evidence + 1] = describe(l) .. " in " .. in_other_netns(l)
  end
  local l = found[1]
  ctx:finding {
    id = "other-netns", severity = "error", priority = 4,
    summary = ("nothing listens on port %d here, but %s listens on it in another network namespace (%s)"):format(
      args.target.port, D.holders(l.processes) or "a process", in_other_netns(l)),
    evidence = evidence,
    fix = l.netns_name
      and ("connect from inside it: ip netns exec %s ..., or publish the port here"):format(l.netns_name)
      or "connect from inside that namespace (nsenter -t PID -n ...), or publish the port "
        .. "(e.g. docker run -p HOST:CONTAINER)",
  }
  return true
end

-- ---- findings: a listener should accept, yet it does not --------------------------------------------

local function firewall_hits(ctx, r, port, direction, actions)
  local hits = ctx:check("firewall rules for " .. D.endpoint(r.addr, port), cr.firewall.match,
    { proto = "tcp", addr = r.addr, port = port, direction = direction })
  local out = {}
  for _, h in ipairs(type(hits) == "table" and hits or {}) do
    if actions[h.action] then
      out[#out + 1] = h
    end
  end
  return out
end

local function firewall_finding(ctx, id, r, port, hits, owner)
  local h = hits[1]
  local evidence = {}
  for _, rule in ipairs(hits) do
    evidence[#evidence + 1] = D.rule_text(rule)
  end
  if owner then
    evidence[#evidence + 1] = "listener: " .. owner
  end
  ctx:finding {
    id = id, severity = "error", priority = 3,
    summary = ("%s is %s by a firewall rule (%s %s, %s)"):format(D.endpoint(r.addr, port),
      id == "firewall-drop" and "silently dropped" or "rejected", h.source or "?", h.chain or "?", h.action),
    evidence = evidence,
    fix = delete_rule_command(h),
  }
end

-- Is this listener's accept queue what stops the connection? Its own state
-- decides: a queue over its limit, or its drop counter growing during the
-- probe. The namespace's ListenDrops counts every listener's drops, so it
-- only supports that, or stands in when the /proc/net fallback gives neither
-- a limit nor a drop count and connections wait in this queue.
local function backlog_full(ctx, f, l, severity)
  local before, after = f.drops_before[l.inode], f.drops_after[l.inode]
  local dropped = before and after and after - before -- by this listener, during the probe
  local limit_known = l.drops ~= nil or l.sendq > 0 -- netlink gives both; /proc/net neither
  local full = limit_known and l.recvq > l.sendq
  local only_counters = not limit_known and l.recvq > 0 and f.overflow_growth > 0
  if not (full or (dropped and dropped > 0) or only_counters) then
    return false
  end
  local evidence = { describe(l) }
  evidence[#evidence + 1] = limit_known and ("accept queue: %d waiting, limit %d"):format(l.recvq, l.sendq)
    or ("accept queue: %d waiting, limit unknown (read from /proc/net)"):format(l.recvq)
  if dropped then
    evidence[#evidence + 1] = ("this listener dropped %d connection attempt(s) during the probe (%d in all)"):format(
      dropped, after)
  end
  if f.overflow_growth > 0 then
    evidence[#evidence + 1] = ("the namespace's ListenDrops (every listener's) grew by %d during the probe"):format(
      f.overflow_growth)
  end
  local state = full and ("%d connections wait, limit %d"):format(l.recvq, l.sendq)
    or dropped and dropped > 0 and ("it dropped %d connection attempt(s) during the probe"):format(dropped)
    or ("%d connection(s) wait and the namespace's listen drops grew"):format(l.recvq)
  ctx:finding {
    id = "backlog-full", severity = severity or "error", priority = 3,
    summary = ("%s's accept queue on %s is full (%s): it is not calling accept() fast enough"):format(
      D.holders(l.processes) or "the listener", D.endpoint(l.addr, l.port), state),
    evidence = evidence,
    fix = "find out why the server stopped accepting (hung, overloaded, blocked): strace -p PID or its logs; "
      .. "raise its listen backlog and net.core.somaxconn only if it is merely slow",
  }
  return true
end

local function refused_despite_listener(ctx, args, f, r, ls)
  local hits = firewall_hits(ctx, r, args.target.port, nil, { reject = true })
  if #hits > 0 then
    firewall_finding(ctx, "firewall-reject", r, args.target.port, hits, describe(ls[1]))
    return
  end
  for _, l in ipairs(ls) do -- with net.ipv4.tcp_abort_on_overflow a full queue refuses
    if backlog_full(ctx, f, l) then
      return
    end
  end
  ctx:finding {
    id = "firewall-reject", severity = "error", priority = 2,
    summary = ("%s is refused although %s listens there, and no iptables/nft rule explains it"):format(
      D.endpoint(r.addr, args.target.port), D.holders(ls[1].processes) or "a process"),
    evidence = { describe(ls[1]), "no matching reject rule in nft or iptables" },
    fix = "look for other packet filters: eBPF/cgroup programs (bpftool cgroup tree), a container runtime's rules",
  }
end

-- A drop rule that matches the target is the verdict even when the queue is
-- full too: the SYN it drops never reaches the queue. The full queue is a
-- warning beside it, as deleting the rule alone would not let clients in.
local function timed_out_despite_listener(ctx, args, f, r, ls)
  local hits = firewall_hits(ctx, r, args.target.port, nil, { drop = true })
  if #hits > 0 then
    firewall_finding(ctx, "firewall-drop", r, args.target.port, hits, describe(ls[1]))
  end
  local severity = #hits > 0 and "warn" or "error"
  for _, l in ipairs(ls) do -- a SO_REUSEPORT group: the probe may have hit any of them
    if backlog_full(ctx, f, l, severity) then
      return
    end
  end
  if #hits > 0 then
    return
  end
  ctx:finding {
    id = "timeout", severity = "error",
    summary = ("%s did not answer within %g s although %s listens with room in its queue"):format(
      D.endpoint(r.addr, args.target.port), args.timeout, D.holders(ls[1].processes) or "a process"),
    evidence = { describe(ls[1]), ("accept queue %d of %d"):format(ls[1].recvq, ls[1].sendq) },
    fix = "no firewall rule drops it: look at tc qdiscs, eBPF programs, or a saturated host (ss -ti, nstat)",
  }
end

-- ---- the local decision --------------------------------------------------------------------------

local function ipv6_or_ports(ctx, args, r)
  local t = args.target
  if r.family == "inet6" then
    local on, why = cr.sys.ipv6_enabled()
    if not on then
      ctx:finding {
        id = "ipv6-disabled", severity = "error",
        summary = ("%s is IPv6 but IPv6 is disabled here (%s)"):format(D.endpoint(r.addr, t.port), tostring(why)),
        fix = "connect over IPv4 (127.0.0.1), or enable IPv6: sysctl -w net.ipv6.conf.all.disable_ipv6=0",
      }
      return
    end
  end
  local range = cr.sys.port_range() or {}
  ctx:finding {
    id = "ephemeral-ports-exhausted", severity = "error",
    summary = ("no local port is free to connect to %s (EADDRNOTAVAIL)"):format(D.endpoint(r.addr, t.port)),
    evidence = { ("ip_local_port_range %s-%s, %s usable"):format(tostring(range.first), tostring(range.last),
      tostring(range.available)) },
    fix = "close idle connections (ss -tan state time-wait | wc -l), reuse connections, or widen "
      .. "net.ipv4.ip_local_port_range",
  }
end

local function decide_local(ctx, args, f, r)
  local ls = accepting(f, r.addr, args.target.port)
  if r.status == "refused" then
    if #ls > 0 then
      return refused_despite_listener(ctx, args, f, r, ls)
    end
    if mismatch(ctx, args, f, r) or other_netns(ctx, args, f) then
      return
    end
    return no_listener(ctx, args, f)
  elseif r.status == "timeout" then
    if #ls > 0 then
      return timed_out_despite_listener(ctx, args, f, r, ls)
    end
    local hits = firewall_hits(ctx, r, args.target.port, nil, { drop = true })
    if #hits > 0 then
      return firewall_finding(ctx, "firewall-drop", r, args.target.port, hits)
    end
    ctx:finding { id = "timeout", severity = "error",
                  summary = ("%s did not answer within %g s"):format(D.endpoint(r.addr, args.target.port),
                    args.timeout) }
  elseif r.status == "unreachable" or r.status == "denied" then
    local hits = firewall_hits(ctx, r, args.target.port, nil, { reject = true, drop = true })
    if #hits > 0 then
      return firewall_finding(ctx, hits[1].action == "drop" and "firewall-drop" or "firewall-reject", r,
        args.target.port, hits, ls[1] and describe(ls[1]))
    end
    ctx:finding { id = r.status == "denied" and "permission-denied" or "host-unreachable", severity = "error",
                  summary = ("connecting to %s fails with %s"):format(D.endpoint(r.addr, args.target.port),
                    tostring(r.errno)),
                  evidence = { "no matching rule in nft or iptables" } }
  elseif r.status == "addr-unavailable" then
    return ipv6_or_ports(ctx, args, r)
  elseif r.status == "reset" then
    ctx:finding { id = "connection-reset", severity = "error",
                  summary = ("%s accepted and reset the connection at once"):format(
                    D.endpoint(r.addr, args.target.port)),
                  evidence = ls[1] and { describe(ls[1]) } or nil,
                  fix = "the server closes new connections: check its logs (connection limits, TLS/protocol errors)" }
  else
    ctx:finding { id = "probe-error", severity = "error",
                  summary = ("connecting to %s failed: %s"):format(D.endpoint(r.addr, args.target.port),
                    tostring(r.errno)) }
  end
end

-- ---- remote targets --------------------------------------------------------------------------------

local function decide_remote(ctx, args, r)
  local t = args.target
  if r.status == "addr-unavailable" then
    return ipv6_or_ports(ctx, args, r)
  elseif r.status == "reset" then
    return ctx:finding { id = "connection-reset", severity = "error",
                         summary = ("%s accepted and reset the connection at once"):format(D.endpoint(r.addr, t.port)),
                         fix = "the server closes new connections: check its logs" }
  end
  local where = D.endpoint(r.addr, t.port)
  local hits = firewall_hits(ctx, r, t.port, "out", { reject = true, drop = true })
  if #hits > 0 then
    return firewall_finding(ctx, hits[1].action == "drop" and "firewall-drop" or "firewall-reject", r, t.port, hits)
  end
  local by_status = {
    refused = { "remote-refused", "%s refused the connection: nothing listens there, or its firewall rejects it",
      "check the service on that host (ss -tlnp there) and its firewall" },
    timeout = { "remote-timeout",
      "%s did not answer within %g s: a firewall on the way drops the packets, or the host is down",
      "check the remote firewall and security groups; traceroute -T -p PORT HOST" },
    unreachable = { "host-unreachable", "%s is unreachable (%s): no route, or a router rejects it",
      "check routes (ip route get ADDR) and the network path" },
  }
  local entry = by_status[r.status] or { "probe-error", "connecting to %s failed (%s)", nil }
  ctx:finding {
    id = entry[1], severity = "error",
    summary = entry[2]:format(where, r.status == "timeout" and args.timeout or tostring(r.errno)),
    evidence = { ("%s: %s (%s)"):format(where, r.status, tostring(r.errno)) },
    fix = entry[3],
  }
end

-- Every address failed: explain the one a listener of its family exists for
-- (localhost -> ::1, 127.0.0.1 with a listener on 127.0.0.2 is an address
-- question, not a family one), else the first, the one a client tries first.
local function deciding_result(f)
  for _, r in ipairs(f.probe.results) do
    for _, l in ipairs(f.on_port) do
      if (not f.netns or l.netns == f.netns) and l.family == r.family then
        return r
      end
    end
  end
  return f.probe.results[1]
end

-- ---- names, proxies, Unix sockets ---------------------------------------------------------------------

local function name_unresolved(ctx, t, err, code)
  local conf = cr.sys.resolver() or {}
  local evidence = { ("%s (%s)"):format(tostring(err), tostring(code)) }
  evidence[#evidence + 1] = "nsswitch hosts: " .. tostring(conf.hosts_line or "?")
  if conf.nameservers and #conf.nameservers > 0 then
    evidence[#evidence + 1] = "nameservers: " .. table.concat(conf.nameservers, ", ")
  end
  local listed = cr.sys.hosts_lookup(t.host)
  if listed and #listed > 0 then
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

local function check_proxy(ctx, args)
  local t = args.target
  if not t.url then
    return
  end
  local proxy, var = cr.sys.proxy_for(t.url)
  if not proxy then
    return
  end
  -- curl's proxy default port: 443 for https:// proxies, 1080 for any other
  local scheme, rest = proxy:match("^(%a[%w+.-]*)://(.*)$")
  local default = scheme and scheme:lower() == "https" and 443 or 1080
  local p = require("connrecipe.target").parse((rest or proxy):gsub("/.*$", ""), { default_port = default })
  local status = "unknown"
  if p and p.kind == "inet" then
    local r = ctx:check("probe proxy " .. p.display, cr.probe.tcp, p.host, p.port, { timeout = args.timeout })
    status = r and r.status or "error"
  end
  ctx:finding {
    id = "proxy-env", severity = (status == "open" or status == "unknown") and "warn" or "error",
    priority = status == "open" and 0 or 7,
    summary = ("clients honouring %s send %s to the proxy %s (%s)"):format(var, t.url, proxy, status),
    evidence = { ("%s=%s"):format(var, proxy), "no_proxy does not cover " .. (t.given_host or t.host) },
    fix = ("add %s to no_proxy (export no_proxy=$no_proxy,%s), or unset %s"):format(t.given_host or t.host,
      t.given_host or t.host, var),
  }
end

local function unix_socket(ctx, args)
  local t = args.target
  local r, err = ctx:check("probe " .. t.display, cr.probe.unix, t.path)
  if not r then
    ctx:finding { id = "probe-error", severity = "error", summary = tostring(err) }
    return
  end
  local socks, info = ctx:check("listening Unix sockets with owners", cr.listeners,
    { proto = "unix", processes = true })
  local unread -- why the Unix socket table could not be read, if it could not
  if type(socks) ~= "table" then
    socks, unread = {}, tostring(info):gsub("^cannot read the socket tables: ", "")
  elseif info.error or (info.sources or {}).unix ~= "netlink" and (info.sources or {}).unix ~= "proc" then
    unread = info.error or "neither sock_diag nor /proc/net/unix could be read"
  end
  local owner
  for _, s in ipairs(socks) do
    if s.path == t.path then
      owner = s
    end
  end
  if r.status == "open" then
    ctx:finding { id = "reachable", severity = "ok",
                  summary = ("%s accepts connections%s"):format(t.display, owner and owner.processes and
                    ("; held by " .. (D.holders(owner.processes) or "?")) or "") }
  elseif r.status == "missing" or (r.status == "refused" and t.abstract) then -- no stale abstract names
    local similar = {}
    for _, s in ipairs(D.similar_paths(t.path, socks)) do
      similar[#similar + 1] = s.path .. " held by " .. (D.holders(s.processes) or "owner unknown")
    end
    ctx:finding { id = "unix-socket-missing", severity = "error",
                  summary = ("%s does not exist: the server is not running or uses another path"):format(t.path),
                  evidence = #similar > 0 and similar or { unread
                    and ("the listening Unix sockets could not be read (%s): similar names unknown"):format(unread)
                    or "no listening Unix socket has a similar name" },
                  fix = #similar > 0
                    and ("point the client at %s if that is the server"):format(similar[1]:match("^%S+"))
                    or "start the server, and check the socket path in its configuration" }
  elseif r.status == "refused" then
    ctx:finding { id = "stale-unix-socket", severity = "error",
                  summary = ("%s exists but nothing listens on it: a stale socket file left by a server that "
                    .. "exited"):format(t.path),
                  fix = ("restart the server (it recreates the socket); if it refuses to start, rm %s first"):format(
                    t.path) }
  elseif r.status == "denied" then
    local sec = cr.sys.security() or {}
    local evidence = { ("connecting as uid %s: %s"):format(tostring(sec.euid), tostring(r.errno)) }
    local st = cr.exec { "stat", "-c", "%A %U:%G %n", t.abstract and "/dev/null" or t.path }
    if st and st.status == 0 and not t.abstract then
      evidence[#evidence + 1] = st.stdout:gsub("\n$", "")
    end
    if sec.selinux == "enforcing" then
      evidence[#evidence + 1] = "SELinux is enforcing: check ausearch -m avc"
    end
    if sec.apparmor then
      evidence[#evidence + 1] = "AppArmor is enabled: check the profile of the client"
    end
    ctx:finding { id = "permission-denied", severity = "error",
                  summary = ("no permission to connect to %s"):format(t.path), evidence = evidence,
                  fix = "add the client's user to the socket's group, or change the socket's mode in the "
                    .. "server's configuration" }
  elseif r.status == "busy" then
    ctx:finding { id = "backlog-full", severity = "error",
                  summary = ("%s's accept queue is full"):format(t.path),
                  evidence = owner and { "held by " .. (D.holders(owner.processes) or "?") } or nil,
                  fix = "the server is not accepting connections fast enough: check whether it hangs" }
  else
    ctx:finding { id = r.status == "not-a-socket" and "not-a-socket" or "probe-error", severity = "error",
                  summary = ("%s: %s"):format(t.path, r.status) }
  end
end

-- ---- the recipe -------------------------------------------------------------------------------------

return cr.recipe {
  name = "diagnose",
  description = "Why a connection is refused or times out: the root cause, the process responsible, and the fix.",
  params = {
    { "target", type = "target", positional = true,
      help = "host:port, [v6]:port, PORT (this host), a URL, unix:/path or unix:@name" },
    { "timeout", type = "number", default = 2, min = 0.001, max = 3600, metavar = "S",
      help = "seconds to wait for each probe" },
    { "process", metavar = "NAME", help = "the program that should be listening (its comm or executable name)" },
    { "unit", metavar = "NAME", help = "the systemd unit that should be listening" },
  },
  run = function(ctx, args)
    local t = args.target
    if t.kind == "unix" then
      return unix_socket(ctx, args)
    end
    local addrs, err, code = ctx:check("resolve " .. t.host, cr.resolve, t.host)
    if not addrs then
      return name_unresolved(ctx, t, err, code)
    end
    local f = gather(ctx, args)
    if not f.probe then
      return name_unresolved(ctx, t, "resolution failed during the probe", "EAI_AGAIN")
    end
    check_proxy(ctx, args)
    local any_open = false
    for _, r in ipairs(f.probe.results) do
      any_open = any_open or r.status == "open"
    end
    local r = deciding_result(f)
    if any_open then
      reachable(ctx, args, f)
    elseif is_local(f, r.addr) then
      decide_local(ctx, args, f, r)
    else
      decide_remote(ctx, args, r)
    end
    if is_local(f, r.addr) then -- a remote host's listeners are not in our tables anyway
      listener_check_incomplete(ctx, args, f, any_open)
    end
    owners_unknown(ctx, f)
  end,
}
