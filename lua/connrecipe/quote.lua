-- A peer's own bytes (a banner, an error line, a certificate name) made safe
-- to show: bounded, in double quotes, every byte outside printable ASCII
-- escaped (\r, \n, \t, \\, \", else \xNN), so a hostile server cannot move the
-- cursor, recolour the terminal or forge a line of the report. The one place
-- server words are escaped.
local M = {}

M.LIMIT = 160

local NAMED = { ["\r"] = "\\r", ["\n"] = "\\n", ["\t"] = "\\t", ["\\"] = "\\\\", ['"'] = '\\"' }

-- printable ASCII but the quote and the backslash stays; the rest is escaped
local function escape_byte(c)
  local b = c:byte()
  if b >= 32 and b <= 126 and not NAMED[c] then
    return nil
  end
  return NAMED[c] or ("\\x%02x"):format(b)
end

--- quote(bytes [, limit]) -> '"escaped"', with "..." after it when cut at limit bytes
function M.quote(bytes, limit)
  bytes = tostring(bytes)
  limit = limit or M.LIMIT
  local cut = #bytes > limit
  local shown = (cut and bytes:sub(1, limit) or bytes):gsub(".", escape_byte)
  return '"' .. shown .. '"' .. (cut and "..." or "")
end

return M
