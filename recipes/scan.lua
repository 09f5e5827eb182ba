-- Which TCP ports on HOST accept a connection: a connect scan, as nmap -sT.
-- Prints the open ports; on a terminal, once the scan takes more than a
-- second, a progress line on stderr: ports done, open so far, time left.
local json = require "connrecipe.json"

-- The progress line, once the scan takes more than a second: ports done of
-- the total, open so far, and the time left at the pace so far.
local function progress_line(ctx)
  return function(p)
    if p.elapsed < 1 or p.finished then
      return
    end
    local width = 20
    local filled = math.floor(width * p.done / math.max(p.total, 1))
    local left = p.done > 0 and p.elapsed * (p.total - p.done) / p.done or nil
    ctx:progress("[%s%s] %d/%d ports, %d open, %s", ("#"):rep(filled), (" "):rep(width - filled), p.done, p.total,
      p.counts.open or 0, left and ("%.0f s left"):format(math.ceil(left)) or "time left unknown")
  end
end

-- The text: a summary line, then each open port (with -v, how many ports
-- ended in each status).
local function text(data, ctx)
  local shown = data.addr == data.host and data.host or ("%s (%s)"):format(data.host, data.addr)
  local out = { ("%s: %d open of %d TCP ports scanned in %.2f s"):format(shown, #data.open, data.total,
    data.elapsed) }
  for _, port in ipairs(data.open) do
    out[#out + 1] = ("%d/tcp open"):format(port)
  end
  if ctx.verbose then
    local parts = {}
    for status, n in pairs(data.counts) do
      parts[#parts + 1] = ("%s %d"):format(status, n)
    end
    table.sort(parts)
    out[#out + 1] = "counts: " .. table.concat(parts, ", ")
  end
  return table.concat(out, "\n") .. "\n"
end

return cr.recipe {
  name = "scan",
  description = "Which TCP ports on HOST accept a connection: a connect scan, as nmap -sT.",
  params = {
    { "host", type = "host", positional = true, help = "name or address to scan (resolved as a client would)" },
    { "ports", default = "1-1024", metavar = "SPEC", help = "ports: lists and ranges, e.g. 22,80,8000-8100" },
    { "timeout", type = "number", default = 2, min = 0.001, max = 3600, metavar = "S",
      help = "seconds to wait per port" },
    { "concurrency", type = "integer", default = 1000, min = 1, max = 65535, metavar = "N",
      help = "connections in flight at once" },
  },
  run = function(ctx, o)
    local ok, result, msg = pcall(cr.probe.scan, {
      host = o.host,
      ports = o.ports,
      timeout = o.timeout,
      concurrency = o.concurrency,
      -- a terminal on stderr, text output, no -q (ctx:progress says nothing otherwise)
      on_progress = ctx.interactive and progress_line(ctx) or nil,
    })
    if not ok then -- a bad port spec: the message names the bad part
      return nil, "--ports: " .. tostring(result):gsub("^.-cr%.probe%.scan: ", ""), 2
    end
    if not result then
      return nil, msg
    end
    return { host = o.host, addr = result.addr, open = json.array(result.open), counts = result.counts,
      total = result.total, elapsed = result.elapsed }
  end,
  text = text,
  metrics = function(data) -- the numbers of --format nagios and prometheus
    return {
      { name = "open_ports", value = #data.open, help = "TCP ports that accepted a connection" },
      { name = "ports_scanned", value = data.total, help = "TCP ports scanned" },
      { name = "duration_seconds", value = data.elapsed, unit = "seconds", help = "How long the scan took" },
    }
  end,
}
