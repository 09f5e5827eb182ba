-- HTTP: the client speaks first; a HEAD request, and the status line back.
local first_line = function(b)
  return (b:match("^([^\r\n]*)"))
end

local http = {
  name = "http",
  shown = "HEAD / HTTP/1.1",
}

function http.request(t)
  local host = t.given_host or t.host
  if host:find(":", 1, true) then
    host = "[" .. host .. "]"
  end
  return ("HEAD %s HTTP/1.1\r\nHost: %s:%d\r\nUser-Agent: connrecipe\r\nAccept: */*\r\nConnection: close\r\n\r\n")
    :format(t.path or "/", host, t.port)
end

function http.looks_like(bytes)
  return bytes:match("^HTTP/%d") ~= nil
end

--- The status line: ok below 500, an error from 500 on (the server took the
--- request but failed it, e.g. 502 when its upstream is down).
function http.read(bytes)
  local line = first_line(bytes)
  local code = line:match("^HTTP/%d[%.%d]*%s+(%d%d%d)")
  if not code then
    return nil
  end
  code = tonumber(code)
  return { outcome = code >= 500 and "error" or "ok", reason = code >= 500 and "server-error" or nil,
           words = line, detail = code }
end

return http
