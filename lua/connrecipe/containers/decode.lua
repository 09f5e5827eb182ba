-- What a container engine says, read: an HTTP/1.1 reply from its socket
-- and one container's inspect document (or docker's state files), checked
-- field by field. connrecipe.containers loads it only when an engine
-- answered or docker's state is on disk (most hosts have neither).
local decode = {}

-- ---- HTTP/1.1 ---------------------------------------------------------------------------

local function dechunk(body)
  local out, pos = {}, 1
  while true do
    local size_hex, after = body:match("^(%x+)[^\r\n]*\r\n()", pos)
    if not size_hex then
      return nil, "malformed chunked body"
    end
    local size = tonumber(size_hex, 16)
    if size == 0 then
      return table.concat(out)
    end
    out[#out + 1] = body:sub(after, after + size - 1)
    pos = after + size + 2
  end
end

--- decode.parse_http(reply) -> status, body, headers, or nil, why: an
--- HTTP/1.1 response read to the end (Content-Length or chunked); headers
--- is the header block, lowercased, each line after a "\n".
function decode.parse_http(reply)
  local status, head_end = reply:match("^HTTP/1%.[01] (%d%d%d)[^\r\n]*\r\n()")
  if not status then
    return nil, "not an HTTP response"
  end
  local sep = reply:find("\r\n\r\n", head_end - 2, true)
  if not sep then
    return nil, "truncated HTTP headers"
  end
  local headers, body = reply:sub(head_end, sep), reply:sub(sep + 4)
  local lower = "\n" .. headers:lower()
  if lower:find("\ntransfer%-encoding:%s*chunked") then
    local plain, why = dechunk(body)
    if not plain then
      return nil, why
    end
    body = plain
  end
  return tonumber(status), body, lower
end

-- ---- one container, from what the engine says -----------------------------------------

local function str(v)
  return type(v) == "string" and v or nil
end

local function int(v)
  return math.type(v) == "integer" and v or (type(v) == "number" and v == math.floor(v) and math.tointeger(v)) or nil
end

local function tbl(v)
  return type(v) == "table" and v or {}
end

-- {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} -> {{host_ip, host_port, port, proto}}
local function published(bindings)
  local out = {}
  for key, list in pairs(tbl(bindings)) do
    local port, proto = tostring(key):match("^(%d+)/(%a+)$")
    port = tonumber(port)
    if port and port <= 65535 and type(list) == "table" then
      for _, b in ipairs(list) do
        local host_port = tonumber(str(tbl(b).HostPort) or "")
        if host_port and host_port >= 1 and host_port <= 65535 then
          out[#out + 1] = { host_ip = str(b.HostIp) or "", host_port = math.tointeger(host_port),
            port = math.tointeger(port), proto = proto:lower() }
        end
      end
    end
  end
  table.sort(out, function(a, b)
    if a.host_port ~= b.host_port then
      return a.host_port < b.host_port
    end
    return a.host_ip < b.host_ip
  end)
  return out
end

local function addresses(networks)
  local out = {}
  for _, n in pairs(tbl(networks)) do
    for _, k in ipairs({ "IPAddress", "GlobalIPv6Address" }) do
      local a = str(tbl(n)[k])
      if a and a ~= "" then
        out[#out + 1] = a
      end
    end
  end
  table.sort(out)
  return out
end

-- docker's State.Status, or the same worked out from the flags (on disk)
local function state_name(st)
  local s = str(st.Status)
  if s and s:match("^%l+$") then
    return s
  end
  if st.Restarting == true then
    return "restarting"
  elseif st.Running == true then
    return st.Paused == true and "paused" or "running"
  elseif st.Dead == true then
    return "dead"
  elseif str(st.StartedAt) and not st.StartedAt:match("^0001") then
    return "exited"
  end
  return "created"
end

--- decode.from_inspect(doc [, engine]) -> container, or nil: what
--- GET /containers/ID/json (or config.v2.json with hostconfig.json's
--- PortBindings as doc.HostConfig) says, checked field by field.
function decode.from_inspect(doc, engine)
  if type(doc) ~= "table" then
    return nil
  end
  local id = str(doc.Id) or str(doc.ID)
  if not (id and id:match("^%x+$") and #id == 64) then
    return nil
  end
  local st, config = tbl(doc.State), tbl(doc.Config)
  local name = (str(doc.Name) or ""):gsub("^/", "")
  return {
    id = id:lower(),
    name = name ~= "" and name or nil,
    image = str(config.Image) or str(doc.Image),
    engine = engine,
    state = state_name(st),
    exit_code = int(st.ExitCode),
    oom_killed = st.OOMKilled == true,
    error = str(st.Error) ~= "" and str(st.Error) or nil,
    pid = int(st.Pid) ~= 0 and int(st.Pid) or nil,
    started_at = str(st.StartedAt),
    finished_at = str(st.FinishedAt),
    restart_count = int(doc.RestartCount) or 0,
    restart_policy = str(tbl(tbl(doc.HostConfig).RestartPolicy).Name),
    ports = published(tbl(doc.HostConfig).PortBindings),
    addresses = addresses(tbl(doc.NetworkSettings).Networks),
  }
end

return decode
