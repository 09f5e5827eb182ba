-- Redis (RESP): the client speaks first; PING, and +PONG back. A server
-- that refuses the client says so at once, before any command: protected
-- mode (-DENIED) and the client limit (-ERR max number of clients reached).
local redis = {
  name = "redis",
  shown = "PING",
}

function redis.request()
  return "PING\r\n"
end

-- A simple string or an error (+OK, -ERR ..., a line cut by the read limit
-- included), or an integer, bulk string or array header.
function redis.looks_like(bytes)
  return bytes:match("^[%+%-]%u[%u%d]*[ \r]") ~= nil or bytes:match("^[:%$%*]%-?%d+\r\n") ~= nil
end

-- Error prefixes and what they mean for the client.
local ERRORS = {
  { "^%-DENIED", "refused", "protected-mode" },
  { "^%-ERR max number of clients", "refused", "too-many-clients" },
  { "^%-NOAUTH", "auth", "auth-required" },
  { "^%-WRONGPASS", "auth", "auth-required" },
  { "^%-LOADING", "refused", "starting" },
  { "^%-MASTERDOWN", "error", "replica-without-master" },
}

function redis.read(bytes)
  if not redis.looks_like(bytes) then
    return nil
  end
  local line = bytes:match("^([^\r\n]*)")
  if line:match("^%+PONG") then
    return { outcome = "ok", words = line }
  end
  for _, e in ipairs(ERRORS) do
    if line:match(e[1]) then
      return { outcome = e[2], reason = e[3], words = line }
    end
  end
  return { outcome = line:sub(1, 1) == "-" and "error" or "ok", words = line }
end

return redis
