-- STRERROR TEXT MATCHING, kept in this one place on purpose.
-- The bindings report failures as text ("Permission denied", "No such
-- process"); until they carry the errno name as a code, the few decisions
-- diagnose takes on a failure's kind are made here, and only here, so that
-- switching them to codes (EACCES, EPERM, ESRCH, ENOENT) is one edit.
local errtext = {}

-- A namespace (or process) that went away while it was being read.
local VANISHED = { ["No such process"] = true, ["No such file or directory"] = true }

--- Did the thing being read disappear meanwhile (then it held nothing)?
function errtext.vanished(message)
  return VANISHED[message] == true
end

--- Would running as root have let us read it (EACCES, EPERM)?
function errtext.needs_root(message)
  local m = tostring(message or ""):lower()
  return m:find("permission denied", 1, true) ~= nil or m:find("not permitted", 1, true) ~= nil
end

return errtext
