-- Shared helpers for the system-fact modules: file reads that fail with a
-- reason, and external tools run through cr.exec (optionally inside another
-- network namespace), with failures turned into short reasons.
local cr = require "connrecipe"

local util = {}

-- io.open's and read's failure (message "PATH: text", errno number) as a
-- short reason and the errno's name: ENOENT -> "not found", and so on.
local function short_reason(msg, errnum)
  local code = math.type(errnum) == "integer" and errnum > 0 and cr._errno_name(errnum) or nil
  if code == "ENOENT" then
    return "not found", code
  elseif code == "EACCES" or code == "EPERM" then
    return "permission denied", code
  end
  return (tostring(msg or ""):gsub("^.-: ", "")), code
end

--- util.json_decode(text) -> value, or nil, reason. lua-cjson is loaded on
--- first use, so the module works (without JSON-based facts) when it is missing.
local cjson
function util.json_decode(text)
  if cjson == nil then
    local ok, mod = pcall(require "connrecipe.sysrequire", "cjson.safe") -- never from "."
    cjson = ok and mod or false
  end
  if not cjson then
    return nil, "lua-cjson not installed (Debian package lua-cjson)"
  end
  return cjson.decode(text)
end

--- util.read(path) -> text, or nil, "PATH: reason", code
function util.read(path)
  local f, err, errnum = io.open(path, "rb")
  if not f then
    local why, code = short_reason(err, errnum)
    return nil, path .. ": " .. why, code
  end
  local text, rerr, rerrnum = f:read("a")
  f:close()
  if not text then
    local why, code = short_reason(rerr, rerrnum)
    return nil, path .. ": " .. why, code
  end
  return text
end

--- util.read_roots(roots, label, out, read_one): reads each root once, in
-- order, with read_one(root) -> ok, err, code. A root read is named in
-- out.sources ("LABEL ROOT"); a missing one (ENOENT, ENOTDIR) is no fact; any
-- other failure is kept in out.errors, unread rather than absent.
function util.read_roots(roots, label, out, read_one)
  local seen = {}
  for _, root in ipairs(roots) do
    if not seen[root] then
      seen[root] = true
      local ok, err, code = read_one(root)
      if ok then
        out.sources[#out.sources + 1] = label .. " " .. root
      elseif code ~= "ENOENT" and code ~= "ENOTDIR" then
        out.errors[#out.errors + 1] = tostring(err)
      end
    end
  end
end

function util.trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

--- util.words(s) -> list of the whitespace-separated words of s
function util.words(s)
  local t = {}
  for w in s:gmatch("%S+") do
    t[#t + 1] = w
  end
  return t
end

--- util.lines(text) -> iterator over lineno, line
function util.lines(text)
  local n = 0
  local pos = 1
  return function()
    if pos > #text then
      return nil
    end
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or #text + 1) - 1)
    pos = (nl or #text) + 1
    n = n + 1
    return n, line
  end
end

--- util.netns_argv(argv, netns) -> argv, run inside network namespace `netns`:
--- a name under /run/netns (ip netns exec) or a pid (nsenter --net).
function util.netns_argv(argv, netns)
  if netns == nil then
    return argv
  end
  local prefix
  if math.type(netns) == "integer" or (type(netns) == "string" and netns:match("^%d+$")) then
    prefix = { "nsenter", "--net=/proc/" .. tostring(netns) .. "/ns/net", "--" }
  elseif type(netns) == "string" and netns:match("^[%w_.%-]+$") then
    prefix = { "ip", "netns", "exec", netns }
  else
    error("bad netns " .. tostring(netns) .. " (expected a name under /run/netns or a pid)", 3)
  end
  local full = {}
  for _, a in ipairs(prefix) do
    full[#full + 1] = a
  end
  for _, a in ipairs(argv) do
    full[#full + 1] = a
  end
  for k, v in pairs(argv) do
    if type(k) == "string" then
      full[k] = v
    end
  end
  return full
end

--- util.check_netns(netns) -> true, or nil, reason when it does not exist
function util.check_netns(netns)
  if netns == nil then
    return true
  end
  local path = tostring(netns):match("^%d+$") and ("/proc/" .. netns .. "/ns/net") or ("/run/netns/" .. netns)
  local f = io.open(path, "rb")
  if not f then
    return nil, "network namespace " .. tostring(netns) .. " not found (" .. path .. ")"
  end
  f:close()
  return true
end

--- util.run(argv [, netns]) -> {status, stdout, stderr}, or nil, reason, code
--- where reason is "PROG not installed" (code ENOENT), "permission denied"
--- (EACCES, EPERM: ours, or the one the program reported), "PROG failed: ...".
function util.run(argv, netns)
  local ok, why = util.check_netns(netns)
  if not ok then
    return nil, why
  end
  local full = util.netns_argv(argv, netns)
  if not full.timeout then
    full.timeout = 10
  end
  local r, err, code = cr.exec(full)
  if not r then
    if code == "ENOENT" then
      return nil, full[1] .. " not installed", code
    elseif code == "EACCES" then
      return nil, "permission denied", code
    end
    return nil, err, code
  end
  if r.timed_out then
    return nil, argv[1] .. " timed out"
  end
  if r.status ~= 0 then
    local msg = util.trim(r.stderr ~= "" and r.stderr or r.stdout)
    -- ip netns exec / nsenter report a missing program themselves
    -- (their words, not our strerror: the program's own stderr is all there is)
    if msg:find("No such file or directory", 1, true) and msg:find(argv[1], 1, true) then
      return nil, argv[1] .. " not installed", "ENOENT"
    end
    if msg:find("Operation not permitted", 1, true) then
      return nil, "permission denied", "EPERM"
    elseif msg:find("Permission denied", 1, true) then
      return nil, "permission denied", "EACCES"
    end
    return nil, ("%s failed (exit %d): %s"):format(argv[1], r.status, msg:match("[^\n]*"))
  end
  return r
end

return util
