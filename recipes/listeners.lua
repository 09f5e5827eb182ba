-- What is listening on this host and who owns it: the ss -tulnp replacement.
-- TCP LISTEN, unconnected UDP and listening Unix sockets, with every process
-- holding each one, its user, systemd unit or container and namespace.
local containers = require "connrecipe.containers"
local json = require "connrecipe.json"

-- The text: the table, rendered in C (cr.format_sockets: sorted by protocol,
-- address and port, it stays fast at 50k listeners), and on stderr what could
-- not be seen.
-- How many inet rows came from /proc/net, which does not show the device a
-- socket is bound to.
local function devices_unread(sockets)
  local n = 0
  for _, s in ipairs(sockets) do
    if s.dev_unknown then
      n = n + 1
    end
  end
  return n
end

local function text(data, ctx)
  local notes = {}
  local unread = devices_unread(data.sockets)
  if unread > 0 then
    notes[#notes + 1] = ("connrecipe: listeners: %d socket(s) read from /proc/net, which does not show a bound "
      .. "device (SO_BINDTODEVICE): one bound to a device is shown without its %%DEV\n"):format(unread)
  end
  if ctx.args.all_netns and (data.namespaces_unreadable or 0) > 0 then
    notes[#notes + 1] = ("connrecipe: listeners: the network namespace of %d process(es) could not be read "
      .. "(not root, or a security module): a namespace only they are in is not shown\n"):format(
        data.namespaces_unreadable)
  end
  if (data.owners_unknown or 0) > 0 then
    notes[#notes + 1] = ("connrecipe: listeners: %d socket(s) with no visible owner (%s)\n"):format(
      data.owners_unknown,
      (data.processes_no_fds or 0) > 0
          and "connrecipe reached its limit on open files while reading /proc: raise ulimit -n"
        or data.hidepid and "/proc is mounted with hidepid: other users' processes are invisible; run as root"
        or (data.processes_unreadable or 0) > 0
          and ("the fds of %d process(es) could not be read: not root, hidepid or a security module")
            :format(data.processes_unreadable)
        or "held outside this pid namespace or by the kernel")
  end
  if ctx.verbose and data.owners_via then
    notes[#notes + 1] = ("connrecipe: listeners: owners found %s%s\n"):format(
      data.owners_via == "bpf" and "by the BPF task-file iterator" or "by walking /proc",
      data.owners_bpf_error and (" (the BPF iterator could not run: %s)"):format(data.owners_bpf_error) or "")
  end
  return cr.format_sockets(data.sockets, { netns = ctx.args.all_netns }), table.concat(notes)
end

-- The --json document: {"recipe", "sources", "sockets"}; the rows encoded in
-- C (cr.json_sockets: json.encode sorts every key of the document, and even
-- a hand-written Lua encoder costs more than the text table at 10k rows).
local function document(data)
  return '{"recipe":"listeners","sources":' .. json.encode(data.sources or {}) .. ',"sockets":'
    .. cr.json_sockets(data.sockets) .. "}"
end

-- Container names beside their ids, from the engine (read only when a
-- socket belongs to a container).
local function name_containers(socks)
  for _, s in ipairs(socks) do
    if s.container or (s.processes and s.processes[1] and s.processes[1].container) then
      containers.name_sockets(socks, containers.read().list)
      return
    end
  end
end

return cr.recipe {
  name = "listeners",
  description = "What is listening on this host and who owns it: the ss -tulnp replacement.",
  params = {
    { "proto", choices = { "tcp", "udp", "unix" }, metavar = "P", help = "only this protocol" },
    { "port", type = "integer", min = 0, max = 65535, metavar = "N", help = "only this port" },
    { "all-netns", type = "boolean", help = "every network namespace, not just this one" },
    { "processes", type = "boolean", default = true, help = "find the owning processes (--no-processes: faster)" },
  },
  run = function(_, opts)
    local socks, info = cr.listeners({
      proto = opts.proto, port = opts.port, processes = opts.processes,
      netns = opts.all_netns and "all" or "self",
    })
    if not socks then
      return nil, info
    end
    name_containers(socks)
    return { sockets = socks, sources = info.sources, namespaces_unreadable = info.namespaces_unreadable,
      owners_unknown = info.owners_unknown, processes_unreadable = info.processes_unreadable,
      processes_no_fds = info.processes_no_fds, hidepid = info.hidepid, owners_via = info.owners_via,
      owners_bpf_error = info.owners_bpf_error }
  end,
  text = text,
  json = document,
  -- --format nagios, junit, tap, prometheus: one line and the counts, not the table
  summary = function(data)
    return ("%d listening socket%s, %d with no visible owner"):format(#data.sockets,
      #data.sockets == 1 and "" or "s", data.owners_unknown or 0)
  end,
  metrics = function(data)
    return {
      { name = "sockets", value = #data.sockets, help = "Listening sockets (TCP LISTEN, unconnected UDP, Unix)" },
      { name = "owners_unknown", value = data.owners_unknown or 0, help = "Listening sockets with no visible owner" },
    }
  end,
}
