-- What the errno name of a failure (the third value of a failed call,
-- `nil, message, code`, see docs/api.md) says about the fact that could not
-- be read. Decisions are taken on these codes, never on a message's text.
local errcode = {}

-- a namespace or process that went away while it was being read
local VANISHED = { ESRCH = true, ENOENT = true }
-- refused: running as root would let it be read
local NEEDS_ROOT = { EACCES = true, EPERM = true }

--- Did the thing being read disappear meanwhile (then it held nothing)?
function errcode.vanished(code)
  return VANISHED[code] == true
end

--- Would running as root have let us read it?
function errcode.needs_root(code)
  return NEEDS_ROOT[code] == true
end

return errcode
