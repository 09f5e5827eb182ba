-- PostgreSQL: the client speaks first; a startup message (protocol 3.0) as
-- user and database "connrecipe". The server answers with an authentication
-- request (R: it takes the client and asks for credentials) or an error (E)
-- whose fields say why: no pg_hba.conf entry, too many clients, starting up.
local postgres = {
  name = "postgres",
  shown = "a startup message (user connrecipe)",
}

local USER = "connrecipe"

local function int32(n)
  return string.pack(">i4", n)
end

function postgres.request()
  local body = int32(196608) .. "user\0" .. USER .. "\0database\0" .. USER .. "\0application_name\0connrecipe\0\0"
  return int32(#body + 4) .. body
end

function postgres.looks_like(bytes)
  return #bytes >= 5 and (bytes:sub(1, 1) == "E" or bytes:sub(1, 1) == "R")
    and string.unpack(">i4", bytes, 2) >= 4 and string.unpack(">i4", bytes, 2) < 65536
end

-- The fields of an ErrorResponse: one type byte and a NUL-terminated string each.
local function error_fields(bytes)
  local len = string.unpack(">i4", bytes, 2)
  local body, fields = bytes:sub(6, 1 + len), {}
  for kind, value in body:gmatch("([^%z])([^%z]*)%z") do
    fields[kind] = value
  end
  return fields
end

-- SQLSTATE codes that mean the server does not take this client (and why).
local REFUSALS = {
  ["28000"] = "host-not-allowed", -- invalid_authorization_specification: pg_hba.conf has no entry
  ["53300"] = "too-many-clients", -- too_many_connections
  ["57P03"] = "starting", -- cannot_connect_now: starting up, shutting down, in recovery
}
local AUTH = { ["28P01"] = true, ["3D000"] = true } -- bad password; no such database: it answered us

function postgres.read(bytes)
  if not postgres.looks_like(bytes) then
    return nil
  end
  if bytes:sub(1, 1) == "R" then
    return { outcome = "auth", reason = "auth-required", words = "authentication request" }
  end
  local f = error_fields(bytes)
  local words = ("%s: %s"):format(f.S or f.V or "ERROR", f.M or "?")
  local code = f.C
  if code == "28000" and not (f.M or ""):find("pg_hba", 1, true) then
    return { outcome = "auth", reason = "auth-required", words = words, detail = code } -- e.g. role does not exist
  end
  if REFUSALS[code] then
    return { outcome = "refused", reason = REFUSALS[code], words = words, detail = code }
  end
  return { outcome = AUTH[code] and "auth" or "error", reason = AUTH[code] and "auth-required" or nil,
           words = words, detail = code }
end

return postgres
