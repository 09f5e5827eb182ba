-- help() in the REPL, built from the API reference in docs/ (compiled into
-- the binary), so the REPL and the docs say the same thing. The index fits
-- the terminal: functions grouped by module, one line each (the names and
-- the first sentence of their description, cut on a word), then the recipes
-- on the recipe path; help(fn) or help("name") shows the full text, help("word")
-- what matches.
local cr = require "connrecipe"
local mdterm = require "connrecipe.mdterm"
local recipecall = require "connrecipe.recipecall"

local help = {}

-- docs/ files in reading order: the API first, then the pages it points to
local DOC_ORDER = { ["api.md"] = 1, ["probes.md"] = 2, ["sockets.md"] = 3, ["sysfacts.md"] = 4 }

local GROUP_TITLES = {
  cr = "cr: tasks, programs, recipes and the rest of the module",
  task = "task: what cr.spawn returns",
  ctx = "ctx: what a recipe's run gets",
  report = "report: what a recipe called as a function returns",
}

-- ---- the docs as entries ---------------------------------------------------------

-- "cr.probe.tcp" -> "cr.probe", "tcp", "."; "task:join" -> "task", "join", ":"
local function split_name(name)
  local group, sep, short = name:match("^(.*)([.:])([^.:]+)$")
  return group, short, sep
end

-- The names a heading documents: "cr.sys.hosts([path]) / cr.sys.parse_hosts(text)"
local function heading_names(heading)
  local names = {}
  for name in heading:gmatch("([%a_][%w_]*[.:][%w_.:]*[%w_])%s*[%({]") do
    names[#names + 1] = name
  end
  return names
end

local function sorted_docs()
  local files = {}
  for name, text in pairs(cr._docs()) do
    files[#files + 1] = { name = name, text = text }
  end
  table.sort(files, function(a, b)
    local ra, rb = DOC_ORDER[a.name] or 99, DOC_ORDER[b.name] or 99
    if ra ~= rb then
      return ra < rb
    end
    return a.name < b.name
  end)
  return files
end

-- The first sentence of the section's first paragraph, plain.
local function summary_of(body, fallback)
  for _, b in ipairs(mdterm.blocks(body)) do
    if b.kind == "para" then
      local text = mdterm.inline(b.text, false)
      return text:match("^(.-%.)%s") or text
    end
  end
  return fallback or ""
end

-- Adds the entries of one doc file: a heading that names functions, and its
-- text up to the next heading.
local function parse_doc(text, entries, by_name)
  local current, parent
  local function close()
    if current then
      current.summary = summary_of(current.body, parent)
      current = nil
    end
  end
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local hashes, heading = line:match("^(##+)%s+(.+)$")
    if heading then
      close()
      local signature = mdterm.inline(heading, false)
      local names = heading_names(signature)
      local fresh = {}
      for _, name in ipairs(names) do
        if not by_name[name] then
          fresh[#fresh + 1] = name
        end
      end
      if #fresh > 0 then
        local group = split_name(fresh[1])
        current = { names = fresh, signature = signature, body = {}, group = group, heading = heading }
        entries[#entries + 1] = current
        for _, name in ipairs(fresh) do
          by_name[name] = current
        end
      elseif hashes == "##" then
        parent = signature
      end
    elseif line:match("^#") then
      close()
    elseif current then
      current.body[#current.body + 1] = line
    end
  end
  close()
end

local entries, by_name

local function load_docs()
  if not entries then
    entries, by_name = {}, {}
    for _, f in ipairs(sorted_docs()) do
      parse_doc(f.text, entries, by_name)
    end
  end
end

--- help.documented() -> {name = entry}: the names the docs document, for the
--- test that keeps them complete.
function help.documented()
  load_docs()
  return by_name
end

-- ---- output ------------------------------------------------------------------------

--- help.columns() -> the terminal's width: the REPL's (set by the
--- executable), else $COLUMNS, else 80.
function help.columns()
  local n = help.terminal_columns and help.terminal_columns()
  n = n or tonumber(os.getenv("COLUMNS"))
  if not n or n < 20 then
    n = 80
  end
  return math.min(n, 300)
end

local function colour()
  return cr.cli.color and true or false
end

local function write(text)
  io.stdout:write(text)
  io.stdout:flush()
end

local function groups()
  load_docs()
  local list, seen = {}, {}
  for _, e in ipairs(entries) do
    if not seen[e.group] then
      seen[e.group] = { name = e.group, entries = {} }
      list[#list + 1] = seen[e.group]
    end
    table.insert(seen[e.group].entries, e)
  end
  local rank = { cr = 0, task = 2, ctx = 3, report = 4 }
  table.sort(list, function(a, b)
    local ra, rb = rank[a.name] or 1, rank[b.name] or 1
    if ra ~= rb then
      return ra < rb
    end
    return a.name < b.name
  end)
  return list
end

-- "get, list, find": the names of an entry within its group
local function short_names(e)
  local out = {}
  for i, name in ipairs(e.names) do
    local _, short = split_name(name)
    out[i] = short
  end
  return table.concat(out, ", ")
end

-- One index line: "  names  summary", the summary cut to the width on a word;
-- names too many for the width alone, on as many lines as they need.
local function index_line(names, summary, column, width)
  if mdterm.width(names) + 2 > width then
    return table.concat(mdterm.wrap(names, width, "  ", "  "), "\n")
  end
  local left = "  " .. names .. (" "):rep(math.max(0, column - mdterm.width(names)))
  local room = width - mdterm.width(left) - 2
  if room < 12 or summary == "" then
    return "  " .. names
  end
  return left .. "  " .. mdterm.cut(summary, room)
end

local NAME_COLUMN = 16

local function group_lines(g, width, out, only)
  out[#out + 1] = mdterm.cut(GROUP_TITLES[g.name] or g.name, width)
  for _, e in ipairs(g.entries) do
    if not only or only[e] then
      out[#out + 1] = index_line(short_names(e), e.summary, NAME_COLUMN, width)
    end
  end
end

local function recipe_lines(list, width, out)
  for _, r in ipairs(list) do
    out[#out + 1] = index_line(r.name, r.description, NAME_COLUMN, width)
  end
end

local INTRO = "Each line runs as a task, so async calls work inline; =expr prints a value; locals do not "
  .. "survive between lines (use globals). Tab completes names, Ctrl-C cancels the running line, Ctrl-D "
  .. "exits. help(cr.probe.tcp) or help(\"tcp\") shows one function in full, help(\"word\") searches."

local RECIPES_TITLE = "recipes: call them as functions, e.g. diagnose(\"localhost:8080\"); "
  .. "each returns its report as a table"

--- help.index(width) -> the text of help(): every function by group, then the recipes
function help.index(width)
  local out = mdterm.wrap(INTRO, width, "", "")
  for _, g in ipairs(groups()) do
    out[#out + 1] = ""
    group_lines(g, width, out)
  end
  out[#out + 1] = ""
  local title = mdterm.wrap(RECIPES_TITLE, width, "", "")
  table.move(title, 1, #title, #out + 1, out)
  local ok, list = pcall(recipecall.list)
  recipe_lines(ok and list or {}, width, out)
  return table.concat(out, "\n") .. "\n"
end

-- ---- one name --------------------------------------------------------------------

local function entry_text(e, width)
  local c = colour()
  local head = mdterm.wrap(e.signature, width, "", "    ")
  if c then
    head[1] = "\27[1m" .. head[1]
    head[#head] = head[#head] .. "\27[0m"
  end
  return table.concat(head, "\n") .. "\n" .. mdterm.render(e.body, width, c)
end

-- How a declared recipe is called: NAME(TARGET) or NAME{target = ..., timeout = ...}
local function call_line(r)
  local positional, named = {}, {}
  for _, p in ipairs(r.params) do
    if p.positional then
      positional[#positional + 1] = p.metavar or p.name:upper()
    end
    named[#named + 1] = p.key .. "=..."
  end
  return ("as a function: %s(%s) or %s{%s} -> report (verdict, findings, checks, data)"):format(r.name,
    table.concat(positional, ", "), r.name, table.concat(named, ", "))
end

-- A line of a recipe's --help wrapped at the width: "  --opt S   help" goes
-- on under its help column, the usage line under its first word.
local function fit(l, width)
  if mdterm.width(l) <= width then
    return { l }
  end
  local left, rest = l:match("^(%s+.-%S%s%s+)(%S.*)$")
  if not left then
    left, rest = l:match("^(usage: %S+ %S+ )(.*)$")
  end
  if not left or mdterm.width(left) > width / 2 then
    return mdterm.wrap(l, width, "", "")
  end
  return mdterm.wrap(rest, width, left, (" "):rep(mdterm.width(left)))
end

local function recipe_text(name, width)
  local r, info = recipecall.declaration(name)
  if not r then
    local description = info.description:gsub("([^%.!?])$", "%1.")
    local lines = mdterm.wrap(("%s (%s): %s A plain script: %s(...) runs it with those arguments and returns "
      .. "what it returns."):format(name, info.path, description, name), width, "", "  ")
    return table.concat(lines, "\n") .. "\n"
  end
  local text = require("connrecipe.params").help(r.name, r.description, r.params)
  local out = {}
  for l in text:gmatch("([^\n]*)\n") do
    local lines = fit(l, width)
    table.move(lines, 1, #lines, #out + 1, out)
  end
  local call = mdterm.wrap(call_line(r), width, "", "  ")
  table.move(call, 1, #call, #out + 1, out)
  return table.concat(out, "\n") .. "\n"
end

-- "cr.probe.tcp" for a function of the module, "task:join" for a task's
local function names_by_value()
  local names = {}
  local function walk(t, path, depth)
    for k, v in pairs(t) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" and k ~= "cli" then
        local name = path .. "." .. k
        if type(v) == "function" then
          names[v] = names[v] or name
        elseif type(v) == "table" and depth < 3 then
          names[v] = names[v] or name
          walk(v, name, depth + 1)
        end
      end
    end
  end
  walk(cr, "cr", 1)
  names[cr] = "cr"
  for k, v in pairs(cr._task_methods or {}) do
    if type(v) == "function" and k:sub(1, 1) ~= "_" then
      names[v] = "task:" .. k
    end
  end
  return names
end

-- The entry a short name ("tcp", "join") names, when exactly one does.
local function by_short_name(word)
  load_docs()
  local found
  for name, e in pairs(by_name) do
    local _, short = split_name(name)
    if short == word then
      if found and found ~= e then
        return nil
      end
      found = e
    end
  end
  return found
end

local function group_named(name)
  for _, g in ipairs(groups()) do
    if g.name == name then
      return g
    end
  end
end

local function recipe_named(name)
  local ok, list = pcall(recipecall.list)
  for _, r in ipairs(ok and list or {}) do
    if r.name == name then
      return r
    end
  end
end

-- help("word"): the entries and recipes whose names or summaries contain it.
local function search(word, width)
  local needle, out = word:lower(), {}
  local function matches(...)
    for i = 1, select("#", ...) do
      if (select(i, ...)):lower():find(needle, 1, true) then
        return true
      end
    end
  end
  for _, g in ipairs(groups()) do
    local only, any = {}, false
    for _, e in ipairs(g.entries) do
      if matches(table.concat(e.names, " "), e.summary) then
        only[e], any = true, true
      end
    end
    if any then
      if #out > 0 then
        out[#out + 1] = ""
      end
      group_lines(g, width, out, only)
    end
  end
  local ok, list = pcall(recipecall.list)
  local hits = {}
  for _, r in ipairs(ok and list or {}) do
    if matches(r.name, r.description) then
      hits[#hits + 1] = r
    end
  end
  if #hits > 0 then
    if #out > 0 then
      out[#out + 1] = ""
    end
    out[#out + 1] = "recipes"
    recipe_lines(hits, width, out)
  end
  if #out == 0 then
    return ("nothing in help matches '%s'; help() lists everything\n"):format(word)
  end
  return table.concat(out, "\n") .. "\n"
end

--- help.text(name, width) -> the full text for a name: a function, a group
--- ("cr.probe"), a recipe; or what a search for it finds.
function help.text(name, width)
  load_docs()
  local e = by_name[name] or by_short_name(name)
  if e then
    return entry_text(e, width)
  elseif recipe_named(name) then
    return recipe_text(name, width)
  end
  local g = group_named(name)
  if g then
    local out = {}
    group_lines(g, width, out)
    return table.concat(out, "\n") .. "\n"
  end
  return search(name, width)
end

--- help.show([what]): help() in the REPL: the index, or one function, group,
--- recipe or search.
function help.show(what)
  local width = help.columns()
  if what == nil then
    return write(help.index(width))
  end
  if type(what) == "string" then
    return write(help.text(what, width))
  end
  if what == cr.recipes then
    return write(recipecall.list_text(recipecall.list()))
  elseif recipecall.is_report(what) then -- what can be done with it
    return write(help.text("report", width))
  end
  local recipe = type(what) == "function" and recipecall.name_of(what)
  if recipe then
    return write(recipe_text(recipe, width))
  end
  local name = names_by_value()[what]
  if name == "cr" then
    return write(help.index(width))
  elseif name then
    return write(help.text(name, width))
  end
  write(("no help for this %s: help() lists connrecipe's functions and recipes\n"):format(type(what)))
end

return help
