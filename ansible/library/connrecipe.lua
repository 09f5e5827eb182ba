#!/usr/bin/connrecipe
-- The Ansible module connrecipe: runs a connrecipe recipe on the managed host
-- and returns its report. A WANT_JSON module (Ansible writes the arguments to
-- a JSON file and passes its path) that connrecipe itself runs: no Python on
-- the host. Ansible runs it with the interpreter of its first line, or the
-- host's ansible_connrecipe_interpreter. See docs/integrations.md.
--
-- Arguments: recipe (default diagnose), target, fail_on (error, warn or
-- never; default error), and the recipe's own options by name.
-- Returns: changed (false), failed, msg (the headline: report:headline()), verdict, severity,
-- process (the "NAME (pid N)" or "NAME (pids N, M)" the verdict names, if any), status (the exit
-- status the command line would give) and report (the --json document).
local json = require "connrecipe.json"

-- what a verdict of each severity fails under each fail_on
local FAILS = {
  error = { error = true },
  warn = { error = true, warn = true },
  never = {},
}
local TRUE_WORDS = { ["true"] = true, yes = true, on = true, ["1"] = true }
local FALSE_WORDS = { ["false"] = true, no = true, off = true, ["0"] = true }

local function finish(result)
  result.changed = false
  io.stdout:write(json.encode(result), "\n")
end

local function read_args(path)
  if type(path) ~= "string" then
    error("no arguments file: run by Ansible as a WANT_JSON module (connrecipe MODULE ARGS_FILE)", 0)
  end
  local f, err = io.open(path)
  if not f then
    error("cannot read the arguments file: " .. err, 0)
  end
  local text = f:read("a")
  f:close()
  local args, jerr = json.decode(text)
  if type(args) ~= "table" then
    error(("the arguments file %s is not a JSON object%s"):format(path, jerr and (": " .. jerr) or ""), 0)
  end
  return args
end

-- The declaration of the recipe's parameters, by name (nil for a plain script).
local function params_of(recipe)
  local r = require("connrecipe.recipecall").declaration(recipe)
  return r and r.by_name or {}
end

-- Ansible's values as the recipe's: its internal keys and nulls dropped,
-- "yes"/"no" and the like as booleans for a boolean option.
local function recipe_args(args, recipe)
  local by_name, out = params_of(recipe), {}
  for k, v in pairs(args) do
    if type(k) == "string" and not k:match("^_ansible_") and k ~= "recipe" and k ~= "fail_on" and v ~= json.null then
      local p = by_name[k] or by_name[(k:gsub("_", "-"))]
      if p and p.type == "boolean" and type(v) == "string" then
        local word = v:lower()
        v = TRUE_WORDS[word] or (not FALSE_WORDS[word] and v)
      end
      out[k] = v
    end
  end
  return out
end

-- "socat (pid 12)", "socat (pids 12, 13)": one group of a socket's holders as
-- diagnose names them (connrecipe.describe.holders)
local HOLDERS = "[^%s(,]+ %(pids? %d+[%d, ]*%)"

-- The holders named in text: the first group and the groups that follow it
-- (", sh (pid 14)"), or nil.
local function holders_in(text)
  local first, last = text:find(HOLDERS)
  if not first then
    return nil
  end
  local found = { text:sub(first, last) }
  repeat
    local _, next_last, more = text:find("^, (" .. HOLDERS .. ")", last + 1)
    found[#found + 1], last = more, next_last or last
  until not more
  return table.concat(found, ", ")
end

-- The processes the verdict holds responsible, as its summary or evidence names them.
local function process_of(finding)
  if not finding then
    return nil
  end
  local texts = { finding.summary }
  for _, line in ipairs(type(finding.evidence) == "table" and finding.evidence or { finding.evidence }) do
    texts[#texts + 1] = tostring(line)
  end
  for _, text in ipairs(texts) do
    local name = type(text) == "string" and holders_in(text)
    if name then
      return name
    end
  end
end

local function run(path)
  local args = read_args(path)
  local recipe = args.recipe == nil and "diagnose" or tostring(args.recipe)
  local fail_on = args.fail_on == nil and "error" or tostring(args.fail_on)
  if not FAILS[fail_on] then
    error(("fail_on: expected error, warn or never, got '%s'"):format(fail_on), 0)
  end
  local report = cr.recipes[recipe](recipe_args(args, recipe))
  if type(report) ~= "table" or not report.document then
    error(("recipe '%s' is a plain script: it returned no report"):format(recipe), 0)
  end
  local verdict = report.verdict and report:finding(report.verdict)
  local severity = verdict and verdict.severity or (report.ok and "ok" or "error")
  return {
    failed = FAILS[fail_on][severity] == true,
    msg = report:headline(),
    recipe = recipe,
    verdict = report.verdict or json.null,
    severity = severity,
    process = process_of(verdict) or json.null,
    status = report.status,
    report = report:document(),
  }
end

local ok, result = pcall(run, ...)
if ok then
  finish(result)
else
  finish { failed = true, msg = tostring(result) }
end
