-- MySQL and MariaDB: the server speaks first, a greeting (protocol 10 and its
-- version) or an error packet (0xff) that says why it does not take the
-- client: host not allowed (1130), too many connections (1040), blocked
-- after errors (1129).
local mysql = {
  name = "mysql",
}

function mysql.request()
  return nil -- the server speaks first
end

-- A packet: 3-byte length, sequence number 0, then the payload.
local function payload(bytes)
  if #bytes < 5 then
    return nil
  end
  local len, seq = string.unpack("<I3B", bytes)
  if seq ~= 0 or len < 1 or len > 0xffff then
    return nil
  end
  return bytes:sub(5, 4 + len)
end

function mysql.looks_like(bytes)
  local p = payload(bytes)
  return p ~= nil and (p:byte(1) == 10 or p:byte(1) == 0xff)
end

local REFUSALS = { [1130] = "host-not-allowed", [1040] = "too-many-clients", [1129] = "host-blocked",
                   [1203] = "too-many-clients" }

function mysql.read(bytes)
  if not mysql.looks_like(bytes) then
    return nil
  end
  local p = payload(bytes)
  if p:byte(1) == 10 then
    local version = p:match("^\10([^%z]*)%z") or "?"
    return { outcome = "ok", words = "greeting, server version " .. version, detail = version }
  end
  local code = #p >= 3 and string.unpack("<I2", p, 2) or 0
  local message = p:sub(4):gsub("^#%w%w%w%w%w", "")
  return { outcome = REFUSALS[code] and "refused" or "error", reason = REFUSALS[code],
           words = ("ERROR %d: %s"):format(code, message), detail = code }
end

return mysql
