-- Socket addresses as diagnose reasons about them: which family, whether an
-- address is loopback or a wildcard, how to write addr:port, and whether a
-- listener bound one way accepts a connection to an address.
local address = {}

function address.is_v6(addr)
  return addr:find(":", 1, true) ~= nil
end

function address.is_loopback(addr)
  return addr == "::1" or addr:match("^127%.") ~= nil or addr:match("^::ffff:127%.") ~= nil
end

function address.is_wildcard(addr)
  return addr == "0.0.0.0" or addr == "::"
end

--- "inet6" for an IPv6 address, else "inet".
function address.family_of(addr)
  return address.is_v6(addr) and "inet6" or "inet"
end

--- "127.0.0.1:8080", "[::1]:8080"
function address.endpoint(addr, port)
  if address.is_v6(addr) then
    return ("[%s]:%d"):format(addr, port)
  end
  return ("%s:%d"):format(addr, port)
end

--- Does a listener (or a bound UDP socket) accept connections to addr?
--- Wildcards take every address of their family; "[::]" without v6only
--- takes IPv4 too.
function address.accepts(l, addr)
  if l.addr == addr then
    return true
  end
  local v6 = address.is_v6(addr)
  if l.family == "inet" then
    return not v6 and l.addr == "0.0.0.0"
  end
  if l.addr == "::" then
    return v6 or l.v6only == false
  end
  return l.addr == "::ffff:" .. addr
end

return address
