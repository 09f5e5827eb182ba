-- cr.probe.tcp, cr.probe.udp and cr.probe.scan: name resolution, defaults and
-- verdicts in Lua over the C halves (cr.probe._tcp, _udp, _scan). Called once
-- by the module loader.
local cr = require "connrecipe"

return function()
  local probe = cr.probe
  local c_tcp, c_udp, c_tls, c_scan = probe._tcp, probe._udp, probe._tls, probe._scan

  -- level: where a mistake is reported, the caller of probe.tcp / probe.udp
  local function check_target(fname, host, port, opts)
    if type(host) ~= "string" or host == "" then
      error(("%s: host must be a non-empty string, got %s"):format(fname, type(host)), 4)
    end
    if math.type(port) ~= "integer" or port < 1 or port > 65535 then
      error(("%s: port must be an integer 1-65535, got %s"):format(fname, tostring(port)), 4)
    end
    if opts ~= nil and type(opts) ~= "table" then
      error(("%s: options must be a table, got %s"):format(fname, type(opts)), 4)
    end
    return opts or {}
  end

  -- Every address the name resolves to, in the client's order (or only the
  -- first, as some clients do); nil, message, code when it does not resolve.
  local function addresses(host, opts)
    local addrs, msg, code = cr.resolve(host, { family = opts.family })
    if not addrs then
      return nil, msg, code
    end
    if opts.first_only then
      addrs = { addrs[1] }
    end
    return addrs
  end

  -- Open when any address is open (a client that tries them all gets in);
  -- otherwise what the first address a client tries says.
  local function overall(results)
    for _, r in ipairs(results) do
      if r.status == "open" then
        return "open", r
      end
    end
    return results[1].status, results[1]
  end

  -- What TCP and UDP share: resolve, probe every address at once with the C
  -- half, and the verdict. -> report, the decisive result; or nil, message, code.
  local function probe_addresses(fname, c_probe, host, port, opts)
    opts = check_target(fname, host, port, opts)
    local addrs, msg, code = addresses(host, opts)
    if not addrs then
      return nil, msg, code
    end
    local results = c_probe(addrs, port, opts)
    local status, decisive = overall(results)
    return { host = host, port = port, status = status, results = results }, decisive
  end

  --- cr.probe.tcp(host, port [, opts]) -> {host, port, status, results = {...}}
  function probe.tcp(host, port, opts)
    local report, decisive, code = probe_addresses("cr.probe.tcp", c_tcp, host, port, opts)
    if not report then
      return nil, decisive, code
    end
    for _, k in ipairs { "banner", "self_connect", "after_connect", "banner_end", "reply", "reply_end",
                         "read_errno" } do
      report[k] = decisive[k]
    end
    return report
  end

  local TLS_FIELDS = { "handshake", "handshake_ms", "version", "cipher", "verify", "verify_code", "name_match",
                       "subject", "issuer", "san", "not_before", "not_after", "self_signed", "error", "peer_end",
                       "received" }

  -- The TLS verdict: the first address whose handshake completed, else the first open one.
  local function tls_decisive(results)
    for _, r in ipairs(results) do
      if r.handshake then
        return r
      end
    end
  end

  --- cr.probe.tls(host, port [, opts]) -> {host, port, status, handshake, version, cipher,
  --- subject, san, not_before, not_after, verify, name_match, ..., results = {...}}
  function probe.tls(host, port, opts)
    local copy = opts -- not a table: probe_addresses says so
    if opts == nil or type(opts) == "table" then
      copy = {}
      for k, v in pairs(opts or {}) do
        copy[k] = v
      end
      if copy.name == nil and type(host) == "string" and host ~= "" then
        copy.name = host -- the name a client checks: the one it was given
      end
    end
    local report, decisive, code = probe_addresses("cr.probe.tls", c_tls, host, port, copy)
    if not report then
      return nil, decisive, code
    end
    decisive = tls_decisive(report.results) or decisive
    for _, k in ipairs(TLS_FIELDS) do
      report[k] = decisive[k]
    end
    report.name = copy.name
    return report
  end

  --- cr.probe.udp(host, port [, opts]) -> {host, port, status, results = {...}}
  function probe.udp(host, port, opts)
    local report, decisive, code = probe_addresses("cr.probe.udp", c_udp, host, port, opts)
    if not report then
      return nil, decisive, code
    end
    report.reply = decisive.reply
    return report
  end

  local scan_keys = { host = true, ports = true, timeout = true, concurrency = true, on_progress = true,
                      family = true, progress_interval = true }

  --- cr.probe.scan{host, ports = "1-1024", timeout = 2, concurrency = 1000,
  ---               on_progress = fn(progress)} -> {host, addr, open, counts, elapsed}
  function probe.scan(opts)
    if type(opts) ~= "table" then
      error("cr.probe.scan: expected a table {host = ..., ports = ...}", 2)
    end
    for k in pairs(opts) do
      if not scan_keys[k] then
        error(("cr.probe.scan: unknown option '%s'"):format(tostring(k)), 2)
      end
    end
    if type(opts.host) ~= "string" or opts.host == "" then
      error("cr.probe.scan: host must be a non-empty string", 2)
    end
    local ports = opts.ports or "1-1024"
    if type(ports) ~= "string" and type(ports) ~= "table" then
      error("cr.probe.scan: ports must be a spec string (\"1-1024,8080\") or a list", 2)
    end
    if opts.on_progress ~= nil and type(opts.on_progress) ~= "function" then
      error("cr.probe.scan: on_progress must be a function", 2)
    end
    local addrs, msg, code = cr.resolve(opts.host, { family = opts.family })
    if not addrs then
      return nil, msg, code
    end
    local addr = addrs[1].addr
    local ok, started = pcall(c_scan, addr, ports, opts.timeout, opts.concurrency)
    if not ok then
      error(started, 2)
    end
    local scan <close> = started -- closed (sockets too) even if on_progress raises
    local interval = opts.on_progress and (opts.progress_interval or 0.1) or nil
    local progress
    repeat
      progress, msg, code = scan:step(interval)
      if not progress then
        return nil, msg, code
      end
      if opts.on_progress then
        opts.on_progress(progress)
      end
    until progress.finished
    local open = scan:open_ports()
    if progress.errno then
      return nil, ("cr.probe.scan: stopped after %d of %d ports: %s"):format(progress.done, progress.total,
        progress.errno), progress.errno
    end
    return {
      host = opts.host,
      addr = addr,
      family = addrs[1].family,
      open = open,
      counts = progress.counts,
      total = progress.total,
      elapsed = progress.elapsed,
      concurrency = progress.concurrency,
      concurrency_min = progress.concurrency_min,
      concurrency_raises = progress.concurrency_raises,
      fd_limit_hits = progress.fd_limit_hits,
      self_connects = progress.self_connects,
    }
  end
end
