-- The protocols diagnose can speak right after connecting, to see whether the
-- application behind a port takes the client or refuses it. Each speaker
-- (connrecipe.protocols.<name>) says what it sends when the server waits for
-- the client (nil: the server speaks first) and reads the answer into
-- {outcome = "ok" | "refused" | "auth" | "error", reason, words, detail}, or
-- nil when the bytes are not its protocol at all. Pure: no I/O here; the
-- bytes come from cr.probe.tcp's settle window (banner) or reply.
local protocols = {}

local NAMES = { "http", "redis", "postgres", "mysql" }

-- The URL schemes and the usual ports that imply each speaker: here, not in
-- the speakers, so that a target implying none (most refused ports) loads none.
local IMPLIED = {
  http = { schemes = { http = true, ws = true },
           ports = { [80] = true, [8080] = true, [8000] = true, [8008] = true, [8888] = true } },
  redis = { schemes = { redis = true }, ports = { [6379] = true } },
  postgres = { schemes = { postgres = true, postgresql = true }, ports = { [5432] = true } },
  mysql = { schemes = { mysql = true, mariadb = true }, ports = { [3306] = true } },
}

local speakers = {} -- loaded on first use

local function speaker(name)
  speakers[name] = speakers[name] or require("connrecipe.protocols." .. name)
  return speakers[name]
end

--- protocols.get(name) -> the speaker, or nil
function protocols.get(name)
  return IMPLIED[name] and speaker(name) or nil
end

--- protocols.for_target(t) -> the speaker the target implies (its URL
--- scheme, else the usual service of its port), or nil
function protocols.for_target(t)
  for _, name in ipairs(NAMES) do
    if t.scheme and IMPLIED[name].schemes[t.scheme] then
      return speaker(name)
    end
  end
  if t.scheme then
    return nil -- a scheme we do not speak: its port says nothing more
  end
  for _, name in ipairs(NAMES) do
    if IMPLIED[name].ports[t.port] then
      return speaker(name)
    end
  end
end

-- What bytes from a server look like, for a protocol mismatch's evidence.
local SIGNATURES = {
  { "tls", function(b)
    return b:match("^[\21\22]\3[\0-\4]") ~= nil -- a TLS record: alert or handshake, version 3.x
  end },
  { "http", function(b) -- an HTML page with no status line: HTTP/0.9's answer to a one-word request
    return b:match("^%s*<!?%a") ~= nil
  end },
  { "ssh", function(b)
    return b:match("^SSH%-") ~= nil
  end },
  { "smtp/ftp", function(b)
    return b:match("^2[12]0[ %-]") ~= nil
  end },
}

--- protocols.identify(bytes) -> the name of the protocol these bytes look
--- like ("http", "redis", "tls", "ssh", ...), or nil
function protocols.identify(bytes)
  if not bytes or bytes == "" then
    return nil
  end
  for _, name in ipairs(NAMES) do
    if speaker(name).looks_like(bytes) then
      return name
    end
  end
  for _, sig in ipairs(SIGNATURES) do
    if sig[2](bytes) then
      return sig[1]
    end
  end
end

--- The first line of text (without its line end), for an answer's words.
function protocols.first_line(bytes)
  return (bytes:match("^([^\r\n]*)"))
end

return protocols
