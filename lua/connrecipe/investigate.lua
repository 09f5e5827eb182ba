-- Everything diagnose reads about a target, as one plain table (the facts):
-- every read goes through ctx:check, so -v and --json list it with its
-- duration, and nothing here decides a cause. The checks
-- (connrecipe.checks.*) read only this table, which is why a run can be
-- saved (--save-facts) and replayed (--from-facts) and the checks tested
-- from canned facts. What is read beyond the probe and the listeners depends
-- only on facts already read (connrecipe.checks.situation), never on a check.
--
-- A read that failed is kept as `error` (the reason), never as an empty
-- list: unread is not absent.
local address = require "connrecipe.address"
local cr = require "connrecipe"
local containers = require "connrecipe.containers"
local json = require "connrecipe.json"
local ports = require "connrecipe.ports"
local protocols = require "connrecipe.protocols"
local quote = require("connrecipe.quote").quote
local target = require "connrecipe.target"
local situation = require "connrecipe.checks.situation"
local follow = require "connrecipe.follow"

local investigate = {}

investigate.SCHEMA = 1
investigate.SETTLE = 0.25 -- seconds to watch what a server does right after accepting

local function copy_plain(t)
  local out = {}
  for k, v in pairs(t) do
    if type(v) ~= "function" then
      out[k] = v
    end
  end
  return out
end

local function unprefixed(err)
  return (tostring(err or "?"):gsub("^cannot read the socket tables: ", ""))
end

-- ---- reads ------------------------------------------------------------------------

-- The set of this host's own addresses (loopback and every interface's), or
-- those of the namespace `spec` (a /run/netns name or a pid).
local function local_addresses(spec)
  local set = {}
  for _, iface in ipairs(cr.sys.interfaces(spec) or {}) do
    for _, a in ipairs(iface.addrs or {}) do
      set[a.addr] = iface.name
    end
  end
  return set
end

-- One TcpExt counter of /proc/net/netstat (a line of names, then one of
-- values, each headed "TcpExt:"), or nil: found by its position among the
-- names, without splitting the few hundred counters of the file (read twice
-- per run: a split of every line was ~5% of a quiet diagnose's instructions).
local function tcpext_value(text, name)
  local names_at = text:find("TcpExt:", 1, true)
  local names_end = names_at and (text:find("\n", names_at, true) or #text + 1)
  local values_at = names_end and text:find("TcpExt:", names_end, true)
  if not values_at then
    return nil
  end
  local names = text:sub(names_at + 7, names_end - 1) .. " "
  local at = names:find(" " .. name .. " ", 1, true)
  if not at then
    return nil
  end
  local _, index = names:sub(1, at):gsub("%S+", "") -- the names before it
  local values = text:sub(values_at + 7, (text:find("\n", values_at, true) or #text + 1) - 1)
  local i = 0
  for v in values:gmatch("%S+") do
    i = i + 1
    if i == index + 1 then
      v = tonumber(v)
      return v and (math.tointeger(v) or v)
    end
  end
  return nil
end

-- ListenDrops counts every SYN or connection a listener dropped, overflows
-- of a full accept queue included (each of those counts in ListenOverflows too).
local function listen_drops(spec)
  if spec == nil then
    local f, err = io.open("/proc/net/netstat", "rb")
    if not f then
      return nil, err
    end
    local text = f:read("a") or ""
    f:close()
    return tcpext_value(text, "ListenDrops") or tcpext_value(text, "ListenOverflows") or 0
  end
  local ext = (cr.sys.counters(spec) or {}).TcpExt or {}
  return ext.ListenDrops or ext.ListenOverflows or 0
end

-- The drop counters of this namespace's TCP listeners on a port, by inode
-- (as a string): read before and after the probe, they tell which listener
-- dropped it. nil drops from the /proc/net fallback.
local function listener_drops(port)
  local by_inode = {}
  for _, l in ipairs(cr.listeners { proto = "tcp", port = port } or {}) do
    by_inode[tostring(l.inode)] = l.drops
  end
  return by_inode
end

-- Where a process's command line and environment set a port.
local function port_settings(pid, cmdline)
  if not cmdline then
    local p = cr.process.get(pid)
    cmdline = p and p.cmdline
  end
  local environ
  local f = io.open(("/proc/%d/environ"):format(pid), "rb")
  if f then
    environ = f:read("a")
    f:close()
  end
  return ports.settings(cmdline, environ)
end

local function read_resolver(ctx, facts)
  local host = facts.args.target.host
  local conf = ctx:check("resolver configuration (nsswitch.conf, resolv.conf)", cr.sys.resolver)
  facts.resolver = type(conf) == "table" and conf or {}
  local entries, err = ctx:check("/etc/hosts entries for " .. host, cr.sys.hosts_lookup, host)
  facts.hosts = entries and { entries = entries } or { error = tostring(err) }
end

local function read_proxy(ctx, facts)
  local t = facts.args.target
  if not t.url then
    return
  end
  local proxy, var = ctx:check("proxy a client would use for " .. t.url, cr.sys.proxy_for, t.url)
  if not proxy then
    return
  end
  facts.proxy = { url = t.url, proxy = proxy, var = var, status = "unknown" }
  -- curl's proxy default port: 443 for https:// proxies, 1080 for any other
  local scheme, rest = proxy:match("^(%a[%w+.-]*)://(.*)$")
  local default = scheme and scheme:lower() == "https" and 443 or 1080
  local p = target.parse((rest or proxy):gsub("/.*$", ""), { default_port = default })
  if p and p.kind == "inet" then
    local r = ctx:check("probe proxy " .. p.display, cr.probe.tcp, p.host, p.port, { timeout = facts.args.timeout })
    facts.proxy.status = r and r.status or "error"
  end
end

-- The probe's options: a settle window after connecting, and what the
-- target's protocol sends when the server waits for the client.
local function probe_options(args, speaker)
  local settle = args.settle
  if settle == nil then
    settle = investigate.SETTLE
  end
  local opts = { timeout = args.timeout, read_bytes = 4096 } -- redis's -DENIED alone is 1 KiB
  if settle > 0 then
    opts.settle = settle
    opts.send = speaker and speaker.request(args.target) or nil
  end
  return opts
end

-- What the server did after accepting, from the address that accepted: the
-- state of the settle window, and what it said (escaped, bounded) read by
-- the protocol's speaker. The raw bytes leave the probe's facts (saved facts
-- are JSON text, and words are shown only escaped).
local function read_conversation(facts, speaker)
  local probe, r = facts.probe, nil
  for _, res in ipairs(probe.results) do
    r = r or (res.status == "open" and res) or nil
  end
  local conv
  if r and r.after_connect then
    conv = { addr = r.addr, client_addr = r.local_addr, state = r.after_connect, protocol = speaker and speaker.name,
             settle = facts.args.settle or investigate.SETTLE, read_errno = r.read_errno,
             banner_end = r.banner_end, reply_end = r.reply_end }
    if r.reply then
      conv.sent = speaker and speaker.shown
    end
    local bytes = r.after_connect == "spoke" and r.banner or r.reply
    if bytes and bytes ~= "" then
      conv.said = quote(bytes)
      conv.looks_like = protocols.identify(bytes)
      local answer = speaker and speaker.read(bytes)
      if answer then
        answer.words = quote(answer.words)
        conv.answer = answer
      end
    end
  end
  for _, res in ipairs(probe.results) do
    res.banner, res.reply = nil, nil
  end
  probe.banner, probe.reply = nil, nil
  return conv
end

-- URL schemes and ports a client speaks TLS to from the first byte.
local TLS_SCHEMES = { https = true, wss = true, ftps = true, smtps = true, imaps = true, pop3s = true, ldaps = true,
                      rediss = true, amqps = true, mqtts = true, grpc = true }
local TLS_PORTS = { [443] = true, [8443] = true, [465] = true, [636] = true, [993] = true, [995] = true,
                    [6443] = true }

-- Whether the client speaks TLS (the scheme, else the port); and for a plain
-- HTTP client, whether the answer hints at a TLS port (a 400, TLS records,
-- a close without a word): then a handshake tells.
local function tls_wanted(t, conv)
  if t.scheme then
    if TLS_SCHEMES[t.scheme] then
      return true, true
    end
  elseif TLS_PORTS[t.port] then
    return true, true
  end
  if conv and conv.protocol == "http" and conv.state == "silent" then
    local a = conv.answer
    return (a and a.detail == 400) or conv.looks_like == "tls" or (not conv.said and conv.reply_end == "closed"), false
  end
  return false
end

-- The TLS the client speaks, checked where the connection arrives: at a
-- hop's upstream (from inside its namespace) the client's own target says
-- whether TLS is spoken and which name the certificate must have, since a
-- forwarder or a DNAT rule hands the bytes on untouched.
local function read_tls(ctx, facts)
  local t, conv = facts.args.target, facts.after_connect
  local client = facts.args.client or t
  if facts.args.tls_ended then -- a forwarder on the way speaks TLS with the client, plain bytes on
    return
  end
  local wanted, expected = tls_wanted(client, conv)
  if not (wanted and conv) then -- conv: some address accepted
    return
  end
  local ns = facts.args.netns
  local r, err = ctx:check("TLS handshake with " .. address.endpoint(conv.addr, t.port)
    .. (ns and ns.path and (" (netns " .. (ns.name or tostring(ns.inode)) .. ")") or ""), cr.probe.tls, conv.addr,
    t.port, { timeout = facts.args.timeout, name = client.host, netns = ns and ns.path })
  if not r then
    facts.tls = { expected = expected, read_error = tostring(err) }
    return
  end
  r.results, r.host = nil, nil
  if r.received then
    r.looks_like = protocols.identify(r.received)
    r.received_line = quote(protocols.first_line(r.received))
    r.received = quote(r.received)
  end
  r.expected, r.now = expected, os.time()
  facts.tls = r
end

-- The first dump read owners for the client's port only (owners_wanted): a
-- hop's endpoint on another port (a DNAT rule's, a forwarder's upstream) has
-- its listeners' owners read here, in every namespace, and set on the shared
-- dump's rows of ns, so that a forwarder there is followed and an app there
-- is named.
local function read_endpoint_owners(ctx, facts, ns, port, where)
  local unread = {}
  for _, l in ipairs(facts.listeners and facts.listeners.list or {}) do
    if l.port == port and l.netns == ns.inode and not l.processes and not l.owner_unknown then
      unread[tostring(l.inode)] = l
    end
  end
  if not next(unread) then
    return
  end
  local owned = ctx:check(("owners of the listeners on port %d%s"):format(port, where), cr.listeners,
    { proto = "tcp", port = port, netns = "all", processes = true })
  for _, o in ipairs(type(owned) == "table" and owned or {}) do
    local l = unread[tostring(o.inode)]
    if l and o.netns == l.netns then
      l.processes, l.owner_unknown, l.owner_unknown_reason = o.processes, o.owner_unknown, o.owner_unknown_reason
    end
  end
end

-- The probe from inside another namespace (a hop's upstream): the listeners
-- of every namespace are those the first run dumped.
local function read_probe_in(ctx, facts, ns, listeners)
  local t = facts.args.target
  local speaker = protocols.for_target(t)
  local where = " (netns " .. (ns.name or tostring(ns.inode)) .. ")"
  facts.netns = ns.inode
  facts.local_addrs = ctx:check("addresses" .. where, local_addresses, ns.spec) or {}
  facts.listen_drops = { before = ctx:check("TCP listen drops, before the probe" .. where, listen_drops, ns.spec) or 0 }
  facts.listener_drops = { before = {}, after = {} }
  facts.listeners = listeners
  read_endpoint_owners(ctx, facts, ns, t.port, where)
  local opts = probe_options(facts.args, speaker)
  opts.netns = ns.path
  local r, err = ctx:check("probe " .. t.display .. where, cr.probe.tcp, t.host, t.port, opts)
  facts.probe, facts.probe_error = r, not r and tostring(err) or nil
  if r then
    facts.after_connect = read_conversation(facts, speaker)
  end
  facts.listen_drops.after = ctx:check("TCP listen drops, after the probe" .. where, listen_drops, ns.spec) or 0
end

-- Whether a check can use the listeners' owners: those on the target's port
-- (in any namespace) or here on one that looks like a typo of it, every one
-- here when a program is expected to serve the port (--process, --unit, a
-- well-known port), and any when not root (the walk is what tells that /proc
-- hides other users' fds). On a refused port with nothing near it none is
-- named, and the walk of every process's fds (most of the cost at 10k
-- listeners) is skipped.
local function owners_wanted(facts, list, info)
  local args, port = facts.args, facts.args.target.port
  if not (facts.security or {}).root or args.process or args.unit or ports.usual_programs[port] then
    return true
  end
  local here -- this namespace's inode, from the dump (nil: take every listener as here)
  for _, ns in ipairs(info and info.namespaces or {}) do
    if ns.via == "self" then
      here = ns.inode
    end
  end
  for _, l in ipairs(list) do
    if l.port == port or ((here == nil or l.netns == here) and ports.near(port, l.port)) then
      return true
    end
  end
  return false
end

-- The TCP listeners of every namespace: first without owners, then, when a
-- check can use them, again with them (the dump is cheap, the owner walk is not).
local function read_listeners(ctx, facts)
  local list, info, code = ctx:check("listeners, all namespaces", cr.listeners, { proto = "tcp", netns = "all" })
  if type(list) == "table" and owners_wanted(facts, list, info) then
    list, info, code = ctx:check("listeners, all namespaces, with owners", cr.listeners,
      { proto = "tcp", netns = "all", processes = true })
  end
  if type(list) ~= "table" then
    return { error = unprefixed(info), code = code }
  end
  return { list = list, info = info or {} }
end

-- The probe, with the listeners of every namespace and the drop counters
-- read around it.
local function read_probe_and_listeners(ctx, facts)
  local t = facts.args.target
  local speaker = protocols.for_target(t)
  facts.local_addrs = ctx:check("this host's addresses", local_addresses) or {}
  facts.listen_drops = { before = ctx:check("TCP listen drops, before the probe", listen_drops) or 0 }
  facts.listener_drops = { before = ctx:check("drop counters of the listeners on port " .. t.port
    .. ", before the probe", listener_drops, t.port) or {} }
  local probe_error
  facts.probe, facts.listeners, facts.netns = cr.all {
    function()
      local r, err = ctx:check("probe " .. t.display, cr.probe.tcp, t.host, t.port,
        probe_options(facts.args, speaker))
      probe_error = not r and tostring(err) or nil
      return r
    end,
    function()
      return read_listeners(ctx, facts)
    end,
    function()
      local me = ctx:check("own network namespace", cr.process.get, cr.pid)
      return me and me.netns
    end,
  }
  facts.probe_error = probe_error
  if facts.probe then
    facts.after_connect = read_conversation(facts, speaker)
  end
  facts.listen_drops.after = ctx:check("TCP listen drops, after the probe", listen_drops) or 0
  facts.listener_drops.after = ctx:check("drop counters of the listeners on port " .. t.port
    .. ", after the probe", listener_drops, t.port) or {}
end

-- The firewall rules that could explain a failed connect: for a local
-- refusal with a listener, a timeout, an ICMP error; outgoing rules for a
-- remote host.
local function wants_firewall(s)
  local status = s.r.status
  if s.here_is_local then
    return (status == "refused" and #s.accepting > 0) or status == "timeout" or status == "unreachable"
      or status == "denied"
  end
  return status ~= "addr-unavailable" and status ~= "reset"
end

local function read_firewall(ctx, facts, s)
  local r, port = s.r, s.port
  local query = { proto = "tcp", addr = r.addr, port = port, direction = not s.here_is_local and "out" or nil,
    netns = facts.args.netns and facts.args.netns.spec }
  local hits, err, code = ctx:check("firewall rules for " .. address.endpoint(r.addr, port),
    cr.firewall.match, query)
  facts.firewall = type(hits) == "table" and { hits = hits } or { error = tostring(err), code = code }
  if type(hits) == "table" then
    facts.nat = { dnat = err.dnat or {} } -- the match's info: the DNAT rules met on the way
  end
end

local function read_local_ports(ctx, facts, r)
  if r.family == "inet6" then
    local on, why = ctx:check("IPv6 enabled", cr.sys.ipv6_enabled)
    facts.ipv6 = on == nil and { error = tostring(why) } or { enabled = on == true, why = why }
    if on == false then
      return
    end
  end
  local range, err = ctx:check("local port range", cr.sys.port_range)
  facts.port_range = range or { error = tostring(err) }
end

-- The UDP sockets bound to the port in this namespace: a service that speaks UDP.
-- The dump alone is cheap; the /proc walk for owners only runs when one exists.
local function read_udp(ctx, facts, port)
  local list, err = ctx:check("UDP sockets on port " .. port, cr.listeners, { proto = "udp", port = port })
  if type(list) ~= "table" then
    facts.udp = { error = unprefixed(err) }
    return
  end
  if #list > 0 then
    local owned = ctx:check("owners of the UDP sockets on port " .. port, cr.listeners,
      { proto = "udp", port = port, processes = true })
    list = type(owned) == "table" and owned or list
  end
  facts.udp = { list = list }
end

-- The program that should serve the port: its unit's state, the process
-- list, and where the processes that matter set their ports.
local function read_service(ctx, facts, s)
  local args = facts.args
  if args.unit then
    local st, err = ctx:check("service " .. args.unit, cr.service.status, args.unit)
    facts.unit = st and { status = st } or { error = tostring(err) }
    if st then
      facts.unit.logs = ctx:check("service logs", cr.service.logs, args.unit, 5)
    end
    if st and st.ActiveState == "activating" then
      return -- starting: the process list would not say more
    end
  end
  if args.process or args.unit or ports.usual_programs[s.port] then
    local all, err = ctx:check("process list", cr.process.list)
    facts.processes = type(all) == "table" and { list = all } or { list = {}, error = tostring(err) }
  end
  facts.port_settings = {}
  local function settings_of(pid, cmdline)
    local key = tostring(pid)
    if not facts.port_settings[key] then
      facts.port_settings[key] = ctx:check("port settings of pid " .. key, port_settings, pid, cmdline) or {}
    end
  end
  local expected = situation.expected(facts, ports.usual_programs)
  if expected and not s.gaps.own then
    for _, p in ipairs(expected.here) do -- the first one listening elsewhere is the one named
      if #situation.ports_of(s, p.pid) > 0 then
        settings_of(p.pid, p.cmdline)
        break
      end
    end
  end
  for _, l in ipairs(s.here) do -- listeners on a port that looks like a typo
    if ports.near(s.port, l.port) and l.processes and l.processes[1] then
      settings_of(l.processes[1].pid)
    end
  end
end

-- Whether the runtimes' monitors could change a finding. Through running
-- shims and conmons they find a private containerd's API and state (its
-- containers, running or not, with nerdctl's names and published ports) and
-- podman's graph roots and which of its containers run. Running containers
-- show in the facts: a container's network namespace, a listener's or a
-- holder's cgroup names it. When none is named that the usual sources did
-- not list (or whose state they left unknown: podman's from disk), no
-- monitor can add one, and the scan is skipped. Not seen that way: a
-- private containerd or podman root whose running containers all share the
-- host's network namespace and hold nothing on or near the port.
local function monitors_wanted(facts, read)
  local by_id = containers.index(read.list)
  local function unsettled(id)
    local c = id and by_id[id]
    return id ~= nil and (not c or c.state == "unknown")
  end
  local l = facts.listeners or {}
  for _, ns in ipairs(l.info and l.info.namespaces or {}) do
    if unsettled(ns.container) then
      return true
    end
  end
  for _, s in ipairs(l.list or {}) do
    if unsettled(s.container) then
      return true
    end
    for _, p in ipairs(s.processes or {}) do
      if unsettled(p.container) then
        return true
      end
    end
  end
  return false
end

investigate._monitors_wanted = monitors_wanted -- for the tests

-- The containers of this host (their engine's API, else docker's state on
-- disk): for a target on this host, which one published the port, its state.
-- The scan of every process for the runtimes' monitors (~7 us a process)
-- runs only when a container the facts name is not settled without it.
local function read_containers(ctx, facts)
  local what = "containers (docker/podman API; docker, podman, containerd state)"
  local read = ctx:check(what, containers.read, { monitors = false })
  if type(read) == "table" and monitors_wanted(facts, read) then
    read = ctx:check(what .. ", with the runtimes' monitors", containers.read)
  end
  facts.containers = type(read) == "table" and read or { error = "not read" }
end

-- The state of every process holding a listener that takes the target (a
-- stopped one holds its socket, and the kernel still completes handshakes):
-- facts.holders[pid] = {pid, comm, state, ppid, live_threads, threads_state},
-- or {error} when unreadable.
local MAX_HOLDERS = 16

local function holder_states(pids)
  local out = {}
  for _, pid in ipairs(pids) do
    local p, err = cr.process.get(pid)
    out[tostring(pid)] = p and { pid = pid, comm = p.comm, state = p.state, ppid = p.ppid,
      live_threads = p.live_threads, threads_state = p.threads_state } or { error = tostring(err) }
  end
  return out
end

local function read_holders(ctx, facts, s)
  if not s.here_is_local then
    return
  end
  local pids, seen = {}, {}
  for _, l in ipairs(situation.taking(s)) do
    for _, p in ipairs(l.processes or {}) do
      if not seen[p.pid] and #pids < MAX_HOLDERS then
        seen[p.pid] = true
        pids[#pids + 1] = p.pid
      end
    end
  end
  if #pids > 0 then
    facts.holders = ctx:check("state of the processes holding the listener on port " .. s.port, holder_states, pids)
  end
end

-- The VRF facts (connrecipe.checks.vrf): every device's kind, master and VRF
-- table, the device this client's sockets come bound to (its VRF under `ip
-- vrf exec`), and net.ipv4.tcp_l3mdev_accept. Unread parts say why.
local function vrf_facts()
  local list, err = cr.sys.interfaces()
  if not list or list.links_error then
    return { error = tostring(list and list.links_error or err) }
  end
  local out = { devices = {} }
  for _, i in ipairs(list) do
    out.devices[i.name] = { kind = i.kind, master = i.master, vrf_table = i.vrf_table }
  end
  local dev, why = cr.sys.socket_device()
  if dev == nil then
    out.client_error = tostring(why)
  else
    out.client = dev
  end
  local v, verr = cr.sys.sysctl("net.ipv4.tcp_l3mdev_accept")
  out.l3mdev_accept, out.l3mdev_accept_error = v, v == nil and tostring(verr) or nil
  return out
end

-- Only for a local refusal that a listener should have taken, in this
-- namespace (a hop's upstream is probed from another one).
local function read_vrf(ctx, facts, s)
  if facts.args.netns or s.any_open or not s.here_is_local or s.r.status ~= "refused" or #s.accepting == 0 then
    return
  end
  facts.vrf = ctx:check("VRFs: devices, this client's, net.ipv4.tcp_l3mdev_accept", vrf_facts)
    or { error = "not read" }
end

-- What the situation calls for beyond the probe and the listeners.
local function read_further(ctx, facts)
  local s = situation.of(facts)
  if s.here_is_local then
    read_containers(ctx, facts)
  end
  read_holders(ctx, facts, s)
  read_vrf(ctx, facts, s)
  if s.any_open then
    return
  end
  if s.r.status == "addr-unavailable" then
    read_local_ports(ctx, facts, s.r)
  elseif wants_firewall(s) then
    read_firewall(ctx, facts, s)
  end
  if s.nothing_here then
    if not s.gaps.own and not facts.args.netns then -- the UDP dump reads our own namespace only
      read_udp(ctx, facts, s.port)
    end
    read_service(ctx, facts, s)
  end
end

local function read_unix(ctx, facts)
  local t = facts.args.target
  local r, err = ctx:check("probe " .. t.display, cr.probe.unix, t.path)
  if not r then
    facts.probe_error = tostring(err)
    return
  end
  facts.probe = r
  local socks, info = ctx:check("listening Unix sockets with owners", cr.listeners,
    { proto = "unix", processes = true })
  facts.unix_sockets = type(socks) == "table" and { list = socks, info = info or {} } or { error = unprefixed(info) }
  if r.status == "denied" and not t.abstract then
    local st = ctx:check("mode and owner of " .. t.path, cr.exec, { "stat", "-c", "%A %U:%G %n", t.path })
    if st and st.status == 0 then
      facts.stat = st.stdout:gsub("\n$", "")
    end
  end
end

--- investigate.target(ctx, args) -> facts: everything read about
--- args.target (a parsed target) with args.timeout, args.settle (seconds
--- after connecting; investigate.SETTLE when nil, 0: none), args.process, args.unit;
--- for a hop's upstream also args.netns ({inode, name, spec, path}: probe
--- from inside it), args.listeners (the dump to reuse), args.depth,
--- args.own_netns (the first run's namespace), args.client (the first
--- run's target: the TLS the client speaks, the name it checks),
--- args.visited (the endpoints on the path so far: a loop is not followed)
--- args.via (the forwarder or rule that sent the connection here) and
--- args.tls_ended (a forwarder on the way ended the client's TLS).
function investigate.target(ctx, args)
  local t = args.target
  local facts = {
    schema = investigate.SCHEMA, pid = cr.pid,
    args = { target = copy_plain(t), timeout = args.timeout, settle = args.settle, process = args.process,
             unit = args.unit, netns = args.netns, depth = args.depth, own_netns = args.own_netns,
             client = args.client, visited = args.visited, via = args.via, tls_ended = args.tls_ended },
  }
  facts.security = ctx:check("security settings (root, SELinux, AppArmor, hidepid)", cr.sys.security) or {}
  if t.kind == "unix" then
    read_unix(ctx, facts)
    return facts
  end
  local addrs, err, code = ctx:check("resolve " .. t.host, cr.resolve, t.host)
  facts.resolve = addrs and { addrs = addrs } or { error = tostring(err), code = code }
  if not addrs then
    read_resolver(ctx, facts)
    return facts
  end
  if args.netns then
    read_probe_in(ctx, facts, args.netns, args.listeners)
  else
    read_probe_and_listeners(ctx, facts)
  end
  if not facts.probe then
    read_resolver(ctx, facts)
    return facts
  end
  read_proxy(ctx, facts)
  read_tls(ctx, facts)
  read_further(ctx, facts)
  follow.read(ctx, facts, investigate.target)
  return facts
end

-- ---- saving and replaying -----------------------------------------------------------

-- A hop's facts share the first run's listener dump: saved once, as
-- `listeners = {shared = true}` in the hops (a copy; the facts are left alone).
local function unshared(facts)
  if not facts.hops then
    return facts
  end
  local out = copy_plain(facts)
  out.hops = {}
  for i, hop in ipairs(facts.hops) do
    local h = copy_plain(hop)
    if h.facts then
      h.facts = unshared(h.facts)
      if hop.facts.listeners == facts.listeners then
        h.facts = copy_plain(h.facts)
        h.facts.listeners = { shared = true }
      end
    end
    out.hops[i] = h
  end
  return out
end

local function reshared(facts)
  for _, hop in ipairs(type(facts.hops) == "table" and facts.hops or {}) do
    if type(hop) == "table" and type(hop.facts) == "table" then
      if type(hop.facts.listeners) == "table" and hop.facts.listeners.shared then
        hop.facts.listeners = facts.listeners
      end
      reshared(hop.facts)
    end
  end
end

--- investigate.encode(facts) -> JSON text (keys sorted, one document)
function investigate.encode(facts)
  return json.encode(unshared(facts), { indent = true }) .. "\n"
end

--- investigate.decode(text) -> facts, or nil, why it cannot be replayed
function investigate.decode(text)
  local facts, err = json.decode(text)
  if type(facts) ~= "table" then
    return nil, "not JSON: " .. tostring(err or "not an object")
  end
  if facts.schema ~= investigate.SCHEMA then
    return nil, ("not a facts file of schema %d (schema %s)"):format(investigate.SCHEMA, tostring(facts.schema))
  end
  if type(facts.args) ~= "table" or type(facts.args.target) ~= "table" then
    return nil, "no target in the facts"
  end
  reshared(facts)
  return facts
end

return investigate
