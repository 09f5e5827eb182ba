-- Markdown for a terminal: what help() shows of docs/*.md. Inline marks
-- (`code`, **bold**, *emphasis*, [links](url)) become plain text (bold or
-- cyan on a colour terminal), paragraphs and list items are wrapped at the
-- terminal's width on word boundaries, code blocks are indented and kept as
-- they are, table rows read as "cell: cell; cell".
local mdterm = {}

local BOLD, CODE, RESET = "\27[1m", "\27[36m", "\27[0m"

--- mdterm.width(s) -> the columns s takes (UTF-8 characters, escapes not counted)
function mdterm.width(s)
  s = s:gsub("\27%[[%d;]*m", "")
  return utf8.len(s) or #s
end

-- Emphasis and links in text outside code spans.
local function plain_marks(text, colour)
  text = text:gsub("%[([^%]]+)%]%([^%)]*%)", "%1")
  text = text:gsub("%*%*(.-)%*%*", colour and (BOLD .. "%1" .. RESET) or "%1")
  text = text:gsub("%*([^%*%s][^%*]-)%*", "%1")
  return (text:gsub("\\([|`*_])", "%1"))
end

--- mdterm.inline(text, colour) -> text without markdown's inline marks
function mdterm.inline(text, colour)
  local out, pos = {}, 1
  while true do
    local s, e, ticks = text:find("(`+)", pos)
    if not s then
      break
    end
    local close_s, close_e = text:find(ticks, e + 1, true)
    if not close_s then
      break
    end
    out[#out + 1] = plain_marks(text:sub(pos, s - 1), colour)
    local code = text:sub(e + 1, close_s - 1):gsub("^ (.*) $", "%1")
    out[#out + 1] = colour and (CODE .. code .. RESET) or code
    pos = close_e + 1
  end
  out[#out + 1] = plain_marks(text:sub(pos), colour)
  return table.concat(out)
end

--- mdterm.wrap(text, width, indent, hanging) -> lines: the words of text,
--- the first line after `indent`, the others after `hanging`, none wider
--- than width unless one word alone is.
function mdterm.wrap(text, width, indent, hanging)
  local lines, line, used = {}, indent, mdterm.width(indent)
  local empty = true
  for w in text:gmatch("%S+") do
    local ww = mdterm.width(w)
    if not empty and used + 1 + ww > width then
      lines[#lines + 1] = line
      line, used, empty = hanging, mdterm.width(hanging), true
    end
    if empty then
      line, used = line .. w, used + ww
    else
      line, used = line .. " " .. w, used + 1 + ww
    end
    empty = false
  end
  if not empty then
    lines[#lines + 1] = line
  end
  return lines
end

--- mdterm.cut(text, width) -> text, or its first words that fit in width
--- followed by "...": never a word cut in two.
function mdterm.cut(text, width)
  if mdterm.width(text) <= width then
    return text
  end
  local out, used = "", 0
  for w in text:gmatch("%S+") do
    local need = (used > 0 and 1 or 0) + mdterm.width(w)
    if used + need + 4 > width then
      break
    end
    out, used = out .. (used > 0 and " " or "") .. w, used + need
  end
  return out == "" and "" or (out:gsub("[,;:]$", "") .. " ...")
end

-- ---- blocks ------------------------------------------------------------------------

--- mdterm.blocks(lines) -> { {kind = "para"|"item"|"code"|"row", text or lines}, ... }
function mdterm.blocks(lines)
  local blocks, current, in_code = {}, nil, false
  local function close()
    current = nil
  end
  for _, line in ipairs(lines) do
    if in_code then
      if line:match("^%s*```") then
        in_code, current = false, nil
      else
        current.lines[#current.lines + 1] = line
      end
    elseif line:match("^%s*```") then
      current = { kind = "code", lines = {} }
      blocks[#blocks + 1], in_code = current, true
    elseif line:match("^%s*$") then
      close()
    elseif line:match("^%s*|") then
      close()
      if not line:match("^%s*|[%s:|-]+|%s*$") then -- not the |---| separator
        local cells = {}
        for cell in line:gsub("\\|", "\0"):gmatch("|([^|]*)") do
          cell = cell:gsub("%z", "|"):match("^%s*(.-)%s*$")
          cells[#cells + 1] = cell
        end
        if cells[#cells] == "" then
          cells[#cells] = nil
        end
        blocks[#blocks + 1] = { kind = "row", cells = cells }
      end
    elseif line:match("^%s*[-*] ") or line:match("^%s*%d+%. ") then
      current = { kind = "item", text = line:gsub("^%s*[-*] ", ""):gsub("^%s*(%d+%.) ", "%1 ") }
      blocks[#blocks + 1] = current
    elseif current and (current.kind == "para" or current.kind == "item") then
      current.text = current.text .. " " .. line:match("^%s*(.-)%s*$")
    else
      current = { kind = "para", text = line:match("^%s*(.-)%s*$") }
      blocks[#blocks + 1] = current
    end
  end
  return blocks
end

-- A table's header row (the first row of a run of rows) says what the columns are.
local function header_row(blocks, i)
  return blocks[i].kind == "row" and (i == 1 or blocks[i - 1].kind ~= "row")
end

--- mdterm.render(lines, width, colour) -> the text of markdown lines for a terminal
function mdterm.render(lines, width, colour)
  local blocks, out = mdterm.blocks(lines), {}
  local function add(t)
    table.move(t, 1, #t, #out + 1, out)
  end
  for i, b in ipairs(blocks) do
    local gap = i > 1 and not (b.kind == "item" and blocks[i - 1].kind == "item")
      and not (b.kind == "row" and blocks[i - 1].kind == "row")
    if gap then
      out[#out + 1] = ""
    end
    if b.kind == "para" then
      add(mdterm.wrap(mdterm.inline(b.text, colour), width, "  ", "  "))
    elseif b.kind == "item" then
      add(mdterm.wrap(mdterm.inline(b.text, colour), width, "  - ", "    "))
    elseif b.kind == "code" then
      for _, l in ipairs(b.lines) do
        out[#out + 1] = "      " .. l
      end
    elseif b.kind == "row" and not header_row(blocks, i) then
      local rest = table.concat(b.cells, "; ", 2)
      local text = mdterm.inline(b.cells[1] .. (rest ~= "" and (": " .. rest) or ""), colour)
      add(mdterm.wrap(text, width, "  ", "      "))
    end
  end
  return table.concat(out, "\n") .. "\n"
end

return mdterm
