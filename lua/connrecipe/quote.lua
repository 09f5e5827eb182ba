-- A peer's own bytes (a banner, an error line, a certificate name) made safe
-- to show: bounded and in double quotes, escaped by the one escaping every
-- text renderer uses (cr.text.escape: controls, C1, bidi controls and bytes
-- that are not UTF-8 as visible escapes), so a hostile server cannot move the
-- cursor, recolour the terminal or forge a line of the report; a double quote
-- or a backslash inside is shown as \" or \\ so the quoted text ends where it
-- seems to and a literal "\x1b" is not taken for an escape.
local cr = require "connrecipe"

local M = {}

M.LIMIT = 160

--- quote(bytes [, limit]) -> '"escaped"', with "..." after it when cut at limit bytes
function M.quote(bytes, limit)
  bytes = tostring(bytes)
  limit = limit or M.LIMIT
  local cut = #bytes > limit
  -- a backslash the peer sent is doubled first, so that only escapes show single
  local raw = (cut and bytes:sub(1, limit) or bytes):gsub("\\", "\\\\"):gsub('"', '\\"')
  local shown = cr.text.escape(raw)
  return '"' .. shown .. '"' .. (cut and "..." or "")
end

return M
