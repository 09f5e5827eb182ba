-- Shared test helpers: running the built executable and other commands,
-- private network namespaces, and temporary files. Loaded via tests/helper.lua.
local testenv = {}

testenv.bin = os.getenv("CONNRECIPE_BIN")
testenv.source_dir = os.getenv("CONNRECIPE_SOURCE_DIR")

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
testenv.quote = shell_quote

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end
testenv.read_file = read_file

function testenv.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

--- testenv.tmpdir() -> a fresh directory, removed by testenv.cleanup()
local tmpdirs = {}
function testenv.tmpdir()
  local p = io.popen("mktemp -d /tmp/connrecipe-test.XXXXXX")
  local dir = p:read("l")
  p:close()
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

--- testenv.sh(command [, {stdin = "..."}]) -> {code, stdout, stderr}
--- Runs a shell command line and captures everything.
function testenv.sh(cmd, opts)
  local out, err = os.tmpname(), os.tmpname()
  local full = "(" .. cmd .. ") >" .. out .. " 2>" .. err
  if opts and opts.stdin then
    local input = os.tmpname()
    testenv.write_file(input, opts.stdin)
    full = full .. " <" .. input
  else
    full = full .. " </dev/null"
  end
  local child_asan = os.getenv("CONNRECIPE_CHILD_ASAN_OPTIONS")
  if child_asan then
    -- sanitizer build: the ASan runtime preloaded into lua5.4 stays out of the
    -- commands; the instrumented executable gets its own leak check
    full = "exec env -u LD_PRELOAD ASAN_OPTIONS=" .. child_asan .. " sh -c " .. shell_quote(full)
  end
  local _, _, code = os.execute(full)
  local r = { code = code, stdout = read_file(out) or "", stderr = read_file(err) or "" }
  os.remove(out)
  os.remove(err)
  return r
end

--- testenv.run(args [, opts]) -> {code, stdout, stderr}: the connrecipe
--- executable with these arguments (a list, quoted for the shell).
function testenv.run(args, opts)
  local parts = { shell_quote(testenv.bin) }
  for _, a in ipairs(args) do
    parts[#parts + 1] = shell_quote(a)
  end
  local prefix = (opts and opts.env) and (opts.env .. " ") or ""
  return testenv.sh(prefix .. table.concat(parts, " "), opts)
end

function testenv.is_root()
  local p = io.popen("id -u")
  local uid = p:read("l")
  p:close()
  return uid == "0"
end

function testenv.have(program)
  return os.execute("command -v " .. program .. " >/dev/null 2>&1") == true
end

--- testenv.netns() -> name of a fresh network namespace with lo up, removed by
--- testenv.cleanup(). Commands run inside it with testenv.in_netns(name, cmd).
local namespaces = {}
function testenv.netns()
  local name = ("crtest-%d-%d"):format(math.random(1, 1e9), #namespaces)
  -- `ip netns add` can fail when another spec adds or deletes a namespace at
  -- the same moment (both remount /run/netns): try again, a bounded few times
  local r
  for _ = 1, 10 do
    r = testenv.sh("ip netns add " .. name)
    if r.code == 0 then
      break
    end
    os.execute("sleep 0.1")
  end
  assert(r.code == 0, "ip netns add failed: " .. r.stderr)
  namespaces[#namespaces + 1] = name
  assert(os.execute("ip -n " .. name .. " link set lo up"))
  return name
end

function testenv.in_netns(ns, cmd)
  return "ip netns exec " .. ns .. " " .. cmd
end

function testenv.cleanup()
  for _, ns in ipairs(namespaces) do
    os.execute("ip netns pids " .. ns .. " 2>/dev/null | xargs -r kill -9 2>/dev/null")
    os.execute("ip netns del " .. ns .. " 2>/dev/null")
    os.execute("rm -rf /etc/netns/" .. ns)
  end
  namespaces = {}
  for _, d in ipairs(tmpdirs) do
    os.execute("rm -rf " .. shell_quote(d))
  end
  tmpdirs = {}
end

--- A reason to skip root-only tests, or nil.
function testenv.needs_root()
  if not testenv.is_root() then
    return "needs root (network namespaces)"
  end
end

--- testenv.background(cmd): starts a shell command in the background (output
--- discarded). Start servers inside a namespace (testenv.in_netns) so that
--- testenv.cleanup() kills them with the namespace.
function testenv.background(cmd)
  os.execute("(" .. cmd .. ") >/dev/null 2>&1 &")
end

--- testenv.wait_for(fn [, seconds]) -> true once fn() returns true, false
--- after `seconds` (default 5). Polls every 20 ms; bounded.
function testenv.wait_for(fn, seconds)
  local tries = math.floor((seconds or 5) / 0.02)
  for _ = 1, tries do
    if fn() then
      return true
    end
    os.execute("sleep 0.02")
  end
  return false
end

--- testenv.wait_listening(ns, proto, port) -> true once something listens on
--- port (proto "tcp" or "udp") inside namespace ns.
function testenv.wait_listening(ns, proto, port)
  local flag = proto == "udp" and "-lun" or "-ltn"
  return testenv.wait_for(function()
    local r = testenv.sh(testenv.in_netns(ns, "ss -H " .. flag .. " sport = :" .. port))
    return r.code == 0 and r.stdout:match("%S") ~= nil
  end)
end

--- testenv.netns_etc(ns, files): files {hosts = "...", ...} placed in
--- /etc/netns/NS/, which `ip netns exec` mounts over /etc (removed by cleanup).
function testenv.netns_etc(ns, files)
  assert(os.execute("mkdir -p /etc/netns/" .. ns))
  for name, text in pairs(files) do
    testenv.write_file("/etc/netns/" .. ns .. "/" .. name, text)
  end
end

--- testenv.cr_in_netns(ns, code [, prefix]) -> {code, stdout, stderr}: runs
--- `connrecipe -e code` inside namespace ns; prefix goes before the command
--- (e.g. "setpriv ..." or a `ulimit` in `sh -c`).
function testenv.cr_in_netns(ns, code, prefix)
  local cmd = shell_quote(testenv.bin) .. " -e " .. shell_quote(code)
  if prefix then
    cmd = prefix .. " " .. cmd
  end
  return testenv.sh(testenv.in_netns(ns, cmd))
end

--- testenv.run_in_netns(ns, args [, opts]) -> {code, stdout, stderr}: the
--- connrecipe executable with these arguments inside namespace ns.
function testenv.run_in_netns(ns, args, opts)
  local parts = { shell_quote(testenv.bin) }
  for _, a in ipairs(args) do
    parts[#parts + 1] = shell_quote(a)
  end
  return testenv.sh(testenv.in_netns(ns, table.concat(parts, " ")), opts)
end

return testenv
