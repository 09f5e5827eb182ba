-- Shared test helpers: running the built executable and other commands,
-- private network namespaces, background servers, ports no other run uses,
-- and temporary files. Loaded via tests/helper.lua.
--
-- Everything a run leaves on the machine carries its owner: the busted
-- process, as "PID-STARTTIME" (the start time tells a reused pid apart).
-- Namespaces are named crtest-OWNER-N, temporary directories
-- /tmp/connrecipe-test.OWNER.XXXXXX, port reservations point at OWNER, and
-- every command started through these helpers (run_busted.sh does the same
-- for the whole run) has CONNRECIPE_TEST_OWNER=OWNER in its environment.
-- testenv.sweep() removes what belongs to owners that no longer run: a spec
-- ctest killed at its TIMEOUT, or a crashed busted. It never touches a live
-- run's, so two runs can share the machine.
local testenv = {}

testenv.bin = os.getenv("CONNRECIPE_BIN")
testenv.source_dir = os.getenv("CONNRECIPE_SOURCE_DIR")

--- The path of a program built from tests/helpers/NAME.c.
function testenv.helper(name)
  return assert(os.getenv("CONNRECIPE_TEST_HELPERS"), "run the tests through ctest") .. "/" .. name
end

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

-- The output of a shell command line (no testenv.sh: it runs before the
-- owner is known, and the sweep must not mark what it runs).
local function capture(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  p:close()
  return out
end

-- ---- who owns what ------------------------------------------------------

-- The state letter and start time (clock ticks after boot) of a process, or
-- nil when there is no such process.
local function proc_stat(pid)
  local s = read_file("/proc/" .. pid .. "/stat")
  local rest = s and s:match("^.*%)%s+(.*)$") -- the name in parentheses may hold anything
  if not rest then
    return nil
  end
  local fields = {}
  for w in rest:gmatch("%S+") do
    fields[#fields + 1] = w
    if #fields == 20 then -- field 22 of stat, the start time
      break
    end
  end
  return fields[1], fields[20]
end

local self_pid = assert((read_file("/proc/self/stat") or ""):match("^(%d+)"), "no /proc/self/stat")
local _, self_start = proc_stat(self_pid)

--- testenv.owner: "PID-STARTTIME" of this process, the run every namespace,
--- directory, reservation and background process made here belongs to.
testenv.owner = self_pid .. "-" .. self_start
local OWNER_VAR = "CONNRECIPE_TEST_OWNER"
local mark = OWNER_VAR .. "=" .. testenv.owner .. "; export " .. OWNER_VAR .. "; "

--- testenv.owner_alive(owner) -> whether the run "PID-STARTTIME" still runs
--- (a zombie does not; a pid reused by a process started later is another).
function testenv.owner_alive(owner)
  local pid, start = tostring(owner):match("^(%d+)%-(%d+)$")
  if not pid then
    return true -- not ours to judge: leave it alone
  end
  local state, started = proc_stat(pid)
  return state ~= nil and state ~= "Z" and state ~= "X" and started == start
end

-- ---- commands -------------------------------------------------------------

--- testenv.tmpdir() -> a fresh directory, removed by testenv.cleanup()
local tmpdirs = {}
function testenv.tmpdir()
  local dir = capture("mktemp -d /tmp/connrecipe-test." .. testenv.owner .. ".XXXXXX"):match("[^\n]+")
  assert(dir, "mktemp -d failed")
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

--- testenv.cgroup2_mount() -> where the cgroup v2 hierarchy is mounted
--- (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host), or nil.
function testenv.cgroup2_mount()
  local mounts = testenv.read_file("/proc/self/mountinfo") or ""
  for line in mounts:gmatch("[^\n]+") do
    local point = line:match("^%S+ %S+ %S+ %S+ (%S+) .- %- cgroup2 ")
    if point then
      return point
    end
  end
  return nil
end

-- cgroups a test made: crtest-OWNER under the v2 mount, its children below
local cgroups = {}

-- Removes a test cgroup and the cgroups below it, innermost first; its
-- processes must be gone (`tries` tries 0.1 s apart: an exiting one leaves
-- it busy a moment).
local function remove_cgroup(dir, tries)
  for try = 1, tries do
    os.execute("find " .. shell_quote(dir) .. " -depth -type d -exec rmdir {} + 2>/dev/null")
    if not testenv.read_file(dir .. "/cgroup.procs") or try == tries then
      return
    end
    os.execute("sleep 0.1")
  end
end

--- testenv.cgroup(name) -> the path of a fresh cgroup v2 directory NAME
--- (which may name a path: "a/b.service") under crtest-OWNER, or nil and
--- why not (no cgroup2, or it cannot be written: a container's read-only
--- cgroup file system). Removed by testenv.cleanup(), after its processes.
function testenv.cgroup(name)
  local mount = testenv.cgroup2_mount()
  if not mount then
    return nil, "no cgroup v2 hierarchy is mounted"
  end
  local base = mount .. "/crtest-" .. testenv.owner
  local dir = base .. "/" .. name
  local r = testenv.sh("mkdir -p " .. shell_quote(dir))
  if testenv.read_file(base .. "/cgroup.procs") then
    cgroups[base] = true -- made, even if what is below it could not be
  end
  if r.code ~= 0 then
    return nil, "cannot make a cgroup: " .. r.stderr:gsub("\n$", "")
  end
  return dir
end

--- testenv.trusted_base(): where testenv.trusted_tmpdir() makes its
--- directories, beside the executable (the build tree), or nil without one.
function testenv.trusted_base()
  return testenv.bin and (testenv.bin:match("^(.*)/[^/]+$") or ".") .. "/test-tmp"
end

--- testenv.trusted_tmpdir() -> a fresh directory (mode 0755) in the build
--- tree, removed by testenv.cleanup(). connrecipe only runs recipes from a
--- directory whose every parent is root's (or the user's) and writable by
--- nobody else; under /tmp (world-writable) nothing is, so recipe
--- directories of tests are made here.
function testenv.trusted_tmpdir()
  local base = assert(testenv.trusted_base(), "CONNRECIPE_BIN is not set")
  local dir = capture("mkdir -p " .. shell_quote(base) .. " && chmod 755 " .. shell_quote(base)
    .. " && d=$(mktemp -d " .. shell_quote(base .. "/connrecipe-test." .. testenv.owner .. ".XXXXXX")
    .. ") && chmod 755 \"$d\" && echo \"$d\""):match("[^\n]+")
  assert(dir, "cannot make a directory in " .. base)
  tmpdirs[#tmpdirs + 1] = dir
  return dir
end

--- testenv.report(r) -> doc, findings by id: the --json document of a run
--- (r from testenv.sh; asserted to be one) and its first finding of each id.
function testenv.report(r)
  local doc = require("dkjson").decode(r.stdout)
  assert(type(doc) == "table", "no JSON: " .. r.stdout .. r.stderr)
  local by_id = {}
  for _, f in ipairs(doc.findings or {}) do
    by_id[f.id] = by_id[f.id] or f
  end
  return doc, by_id
end

--- testenv.sh(command [, {stdin = "..."}]) -> {code, stdout, stderr}
--- Runs a shell command line and captures everything.
function testenv.sh(cmd, opts)
  local out, err = os.tmpname(), os.tmpname()
  local full = mark .. "(" .. cmd .. ") >" .. out .. " 2>" .. err
  local input
  if opts and opts.stdin then
    input = os.tmpname()
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
  if input then
    os.remove(input)
  end
  return r
end

--- testenv.sh_ok(command) -> {code, stdout, stderr}; raises unless it exits 0.
function testenv.sh_ok(cmd)
  local r = testenv.sh(cmd)
  assert(r.code == 0, cmd .. ": " .. r.stderr)
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
  return capture("id -u"):match("%d+") == "0"
end

function testenv.have(program)
  return os.execute("command -v " .. program .. " >/dev/null 2>&1") == true
end

--- A reason to skip root-only tests, or nil.
function testenv.needs_root()
  if not testenv.is_root() then
    return "needs root (network namespaces)"
  end
end

-- ---- background processes -------------------------------------------------

--- testenv.background(cmd) -> pid: starts a shell command in the background
--- (output discarded). testenv.cleanup() kills it and whatever it started,
--- found by the variable CONNRECIPE_TEST_BG=OWNER in their environment.
local BG_VAR = "CONNRECIPE_TEST_BG"
function testenv.background(cmd)
  local r = testenv.sh(BG_VAR .. "=" .. testenv.owner .. "; export " .. BG_VAR .. "; (" .. cmd
    .. ") >/dev/null 2>&1 & echo $!")
  return assert(math.tointeger(tonumber(r.stdout:match("%d+"))), "cannot start " .. cmd)
end

-- The pids whose environment holds VAR=VALUE, VALUE -> {pid, ...}; one grep
-- over every process (those it may not read are passed over).
local function pids_by_variable(var)
  local out = capture("grep -a -s -z -o '^" .. var .. "=[0-9-]*' /proc/[0-9]*/environ")
  local by_value = {}
  for pid, value in out:gmatch("/proc/(%d+)/environ:" .. var .. "=([%d%-]+)\0") do
    if pid ~= self_pid then
      by_value[value] = by_value[value] or {}
      table.insert(by_value[value], pid)
    end
  end
  return by_value
end

--- testenv.processes_of(owner) -> {pid, ...}: the processes (zombies aside)
--- whose environment says they belong to run owner.
function testenv.processes_of(owner)
  return pids_by_variable(OWNER_VAR)[owner] or {}
end

local function kill(pids)
  if pids and #pids > 0 then
    os.execute("kill -9 " .. table.concat(pids, " ") .. " 2>/dev/null")
  end
end

-- The parent pid of every process, pid -> ppid (from /proc/PID/stat; a
-- zombie has one too).
local function parents()
  local out = {}
  for pid, ppid in capture("cat /proc/[0-9]*/stat 2>/dev/null"):gmatch("(%d+) %(.-%) %a (%d+)[^\n]*") do
    out[pid] = ppid
  end
  return out
end

--- testenv.stop(pid): kills a process testenv.background started (its pid
--- as that returned it) and everything it started, by pid, never by name or
--- pattern: another spec's server with the same command line is left alone.
--- Nothing happens unless pid is still one of this run's background
--- processes (not a pid the system gave to another process since). Its
--- descendants are found by their parent pid, so a zombie thread leader,
--- which no longer has an environment to find it by, goes with them.
function testenv.stop(pid)
  pid = tostring(math.tointeger(pid) or error("testenv.stop: not a pid: " .. tostring(pid)))
  local ours = false
  for _, p in ipairs(pids_by_variable(BG_VAR)[testenv.owner] or {}) do
    ours = ours or p == pid
  end
  if not ours then
    return
  end
  local ppid_of, tree, changed = parents(), { [pid] = true }, true
  while changed do
    changed = false
    for p, parent in pairs(ppid_of) do
      if tree[parent] and not tree[p] then
        tree[p], changed = true, true
      end
    end
  end
  local pids = {}
  for p in pairs(tree) do
    pids[#pids + 1] = p
  end
  kill(pids)
  for _ = 1, 50 do -- gone (or a zombie), so that what it held (a port) is free when this returns
    local running = false
    for _, p in ipairs(pids) do
      local state = proc_stat(p)
      running = running or (state ~= nil and state ~= "Z")
    end
    if not running then
      break
    end
    os.execute("sleep 0.1")
  end
end

-- ---- network namespaces -------------------------------------------------

local namespaces = {}
local made = 0 -- namespaces made by this run: the N in crtest-OWNER-N
local reserved = {} -- port blocks held by this run, see testenv.port_block

-- Removes a namespace: what runs inside it, the namespace, its /etc/netns.
local function remove_netns(ns)
  os.execute("ip netns pids " .. ns .. " 2>/dev/null | xargs -r kill -9 2>/dev/null")
  -- like `ip netns add`, del can fail while another run remounts /run/netns
  os.execute("for i in 1 2 3 4 5; do ip netns del " .. ns .. " 2>/dev/null && break; "
    .. "[ -e /run/netns/" .. ns .. " ] || break; sleep 0.1; done")
  os.execute("rm -rf /etc/netns/" .. ns)
end

local PORT_DIR = "/tmp/connrecipe-ports" -- a link per reserved block: NUMBER -> OWNER
testenv.port_dir = PORT_DIR

--- testenv.sweep() -> {namespaces = {...}, processes = {...}, dirs = {...},
--- reservations = {...}}: removes what runs that no longer exist left
--- behind: their crtest-OWNER-N namespaces (and what runs inside them, and
--- /etc/netns/NAME), the processes they started, their temporary
--- directories and port reservations. A live run's are never touched, and
--- neither are names without an owner (older checkouts: they may be live).
function testenv.sweep()
  local removed = { namespaces = {}, processes = {}, dirs = {}, reservations = {} }
  local dead = {} -- owner -> false (alive) or true, asked once each
  local function is_dead(owner)
    if dead[owner] == nil then
      dead[owner] = not testenv.owner_alive(owner)
    end
    return dead[owner]
  end
  -- first the processes, so that nothing holds what goes next
  for owner, pids in pairs(pids_by_variable(OWNER_VAR)) do
    if is_dead(owner) then
      kill(pids)
      table.move(pids, 1, #pids, #removed.processes + 1, removed.processes)
    end
  end
  local listing = capture("ip netns list 2>/dev/null | cut -d' ' -f1; ls -1 /etc/netns 2>/dev/null; echo @; "
    .. "ls -1d /tmp/connrecipe-test.* " .. shell_quote(testenv.trusted_base() or "/nonexistent")
    .. "/connrecipe-test.* 2>/dev/null; echo @; "
    .. "find " .. PORT_DIR .. " -mindepth 1 -maxdepth 1 -type l -printf '%f %l\\n' 2>/dev/null")
  local netns_part, tmp_part, port_part = listing:match("^(.-)@\n(.-)@\n(.*)$")
  local seen = {}
  for name in (netns_part or ""):gmatch("[^\n]+") do
    local owner = name:match("^crtest%-(%d+%-%d+)%-%d+$")
    if owner and not seen[name] and is_dead(owner) then
      seen[name] = true
      remove_netns(name)
      removed.namespaces[#removed.namespaces + 1] = name
    end
  end
  for dir in (tmp_part or ""):gmatch("[^\n]+") do
    local owner = dir:match("/connrecipe%-test%.(%d+%-%d+)%.[^/]*$")
    if owner and is_dead(owner) then
      os.execute("rm -rf " .. shell_quote(dir))
      removed.dirs[#removed.dirs + 1] = dir
    end
  end
  for block, owner in (port_part or ""):gmatch("(%d+) (%S+)\n") do
    if is_dead(owner) then
      os.remove(PORT_DIR .. "/" .. block)
      removed.reservations[#removed.reservations + 1] = tonumber(block)
    end
  end
  local mount = testenv.cgroup2_mount()
  if mount then
    for dir in capture("ls -1d " .. shell_quote(mount) .. "/crtest-* 2>/dev/null"):gmatch("[^\n]+") do
      local owner = dir:match("/crtest%-(%d+%-%d+)$")
      if owner and is_dead(owner) then
        remove_cgroup(dir, 1) -- once: what is still busy is left for a later sweep
        removed.dirs[#removed.dirs + 1] = dir
      end
    end
  end
  return removed
end

--- testenv.netns() -> name of a fresh network namespace with lo up, removed by
--- testenv.cleanup(). Commands run inside it with testenv.in_netns(name, cmd).
--- First sweeps what dead runs left behind (testenv.sweep).
function testenv.netns()
  testenv.sweep()
  made = made + 1
  local name = ("crtest-%s-%d"):format(testenv.owner, made)
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

--- testenv.sh_in(ns, command) -> {code, stdout, stderr}: the command inside
--- namespace ns; raises unless it exits 0.
function testenv.sh_in(ns, cmd)
  local r = testenv.sh(testenv.in_netns(ns, cmd))
  assert(r.code == 0, cmd .. ": " .. r.stderr)
  return r
end

--- testenv.background_in(ns, cmd) -> pid: testenv.background inside ns.
function testenv.background_in(ns, cmd)
  return testenv.background(testenv.in_netns(ns, cmd))
end

--- testenv.cleanup(): kills what testenv.background started, removes the
--- namespaces, temporary directories and port reservations made since the
--- last cleanup.
function testenv.cleanup()
  kill(pids_by_variable(BG_VAR)[testenv.owner])
  for _, ns in ipairs(namespaces) do
    remove_netns(ns)
  end
  namespaces = {}
  for _, d in ipairs(tmpdirs) do
    os.execute("rm -rf " .. shell_quote(d))
  end
  tmpdirs = {}
  for block in pairs(reserved) do
    os.remove(PORT_DIR .. "/" .. block)
  end
  reserved = {}
  for dir in pairs(cgroups) do
    remove_cgroup(dir, 20)
  end
  cgroups = {}
end

--- testenv.setup_gate(skip) -> gate
--- For a describe block whose tests share what busted's setup() made: setup
--- sets gate.why to the reason the block cannot run here (nil when it can),
--- and each test starts with gate.check(), which skips it with that reason
--- (busted allows pending() only inside a test). skip is
--- function(why) pending(why) end.
function testenv.setup_gate(skip)
  local gate = {}
  function gate.check()
    if gate.why then
      skip(gate.why)
      error("skipped: " .. gate.why) -- skip() must not return; stop here if it did
    end
  end
  return gate
end

--- testenv.per_test_netns(before_each, after_each, skip [, opts]) -> netns:
--- the "root only, a fresh namespace per test" pattern. Registers hooks that
--- give each test its own namespace and run testenv.cleanup() after it;
--- netns() returns the test's namespace. busted's hooks are not globals in a
--- module, so the spec passes them in, with skip = function(why) pending(why)
--- end: busted resolves `pending` in the running test, so a skip can only
--- happen there; netns() calls skip(reason) when the test cannot run (not
--- root, a program missing).
--- opts.needs: programs the tests need; opts.check(): another reason to skip,
--- or nil; opts.prepare(ns): runs in before_each once the namespace exists.
function testenv.per_test_netns(before_each, after_each, skip, opts)
  opts = opts or {}
  local ns, why
  before_each(function()
    ns, why = nil, testenv.needs_root()
    for _, prog in ipairs(opts.needs or {}) do
      if not why and not testenv.have(prog) then
        why = prog .. " not installed"
      end
    end
    why = why or (opts.check and opts.check())
    if why then
      return
    end
    ns = testenv.netns()
    if opts.prepare then
      opts.prepare(ns)
    end
  end)
  after_each(testenv.cleanup)
  return function()
    if why then
      skip(why)
      error("skipped: " .. why) -- skip() must not return; stop here if it did
    end
    return ns
  end
end

-- ---- waiting --------------------------------------------------------------

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

--- testenv.wait_ss(ns, args [, text]) -> true once `ss -H ARGS` (inside ns,
--- or here when ns is nil) prints text (plain), or anything when text is nil.
function testenv.wait_ss(ns, args, text)
  local cmd = "ss -H " .. args
  if ns then
    cmd = testenv.in_netns(ns, cmd)
  end
  return testenv.wait_for(function()
    local r = testenv.sh(cmd)
    if text then
      return r.stdout:find(text, 1, true) ~= nil
    end
    return r.code == 0 and r.stdout:match("%S") ~= nil
  end)
end

--- testenv.wait_listening(ns, proto, port) -> true once something listens on
--- port (proto "tcp" or "udp") inside namespace ns.
function testenv.wait_listening(ns, proto, port)
  local flag = proto == "udp" and "-lun" or "-ltn"
  return testenv.wait_ss(ns, flag .. " sport = :" .. port)
end

--- testenv.wait_postgres(socket_dir, port [, seconds]) -> true once the
--- PostgreSQL server with its Unix socket in socket_dir accepts connections
--- (pg_isready: listening is not ready; until its startup ends it answers
--- "the database system is starting up"). Bounded: 30 s unless told.
function testenv.wait_postgres(socket_dir, port, seconds)
  local cmd = ("pg_isready -q -h %s -p %d -t 2"):format(shell_quote(socket_dir), port)
  return testenv.wait_for(function()
    return os.execute(cmd) == true
  end, seconds or 30)
end

--- testenv.wait_socket(path) -> true once path is a socket.
function testenv.wait_socket(path)
  return testenv.wait_for(function()
    return os.execute("test -S " .. shell_quote(path)) == true
  end)
end

--- testenv.tcp_listen(ns, port [, opts]): socat accepting TCP connections on
--- port inside ns, for at most opts.seconds (default 60); returns once it
--- listens. opts.bind: the address (default 127.0.0.1; IPv6 ones make a TCP6
--- listener), opts.options:
--- more socat listen options (",ipv6only=1"), opts.handler: what serves each
--- connection (default EXEC:cat: it keeps the connection and waits for the
--- client, as a server does; SYSTEM:true would close it at once, which
--- diagnose reports as accepted-then-closed).
function testenv.tcp_listen(ns, port, opts)
  opts = opts or {}
  local addr = opts.bind or "127.0.0.1"
  local v6 = addr:find(":", 1, true)
  local spec = (v6 and "TCP6-LISTEN:%d,bind=[%s]" or "TCP4-LISTEN:%d,bind=%s"):format(port, addr)
  testenv.background_in(ns, ("timeout %d socat %s,reuseaddr,fork%s %s"):format(opts.seconds or 60, spec,
    opts.options or "", opts.handler or "EXEC:cat"))
  assert(testenv.wait_listening(ns, "tcp", port), "server on port " .. port .. " did not start")
end

-- ---- ports no other run uses ------------------------------------------------

-- Every network namespace on the machine: named ones (/run/netns) and the
-- unnamed ones processes are in (containers, unshare -n), which
-- `ip -all netns exec` does not reach. inode -> paths to enter it by.
local function all_netns()
  local out = capture("stat -L -c '%i %n' /run/netns/* /proc/[0-9]*/ns/net 2>/dev/null")
  local paths, order = {}, {}
  for inode, path in out:gmatch("(%d+) (%S+)") do
    if not paths[inode] then
      paths[inode] = {}
      order[#order + 1] = inode
    end
    if #paths[inode] < 3 then -- a spare or two, in case a process leaves meanwhile
      table.insert(paths[inode], path)
    end
  end
  return paths, order
end

--- testenv.ports_in_use() -> {[port] = {"where: ss line", ...}}: every TCP
--- listener and bound UDP socket in every network namespace (ss -Htuln in
--- each, entered with nsenter).
function testenv.ports_in_use()
  local paths, order = all_netns()
  local script = {}
  for _, inode in ipairs(order) do
    local tries = {}
    for _, path in ipairs(paths[inode]) do
      tries[#tries + 1] = "nsenter --net=" .. shell_quote(path) .. " ss -Htuln"
    end
    script[#script + 1] = "echo '@ " .. paths[inode][1] .. "'; { " .. table.concat(tries, " || ") .. "; } 2>/dev/null"
  end
  local used, where = {}, "?"
  for line in capture(table.concat(script, "\n")):gmatch("[^\n]+") do
    local path = line:match("^@ (.*)$")
    if path then
      local name = path:match("^/run/netns/(.*)$")
      where = name and ("netns " .. name) or ("netns of pid " .. (path:match("^/proc/(%d+)/") or path))
    else
      local localaddr = line:match("^%S+%s+%S+%s+%S+%s+%S+%s+(%S+)")
      local port = tonumber(localaddr and localaddr:match(":(%d+)$"))
      if port then
        used[port] = used[port] or {}
        table.insert(used[port], where .. ": " .. line:gsub("%s+", " "))
      end
    end
  end
  return used
end

--- testenv.port_holders(port) -> {"where: ss line", ...}, empty when no
--- namespace on the machine listens on port. For tests that need a fixed,
--- well-known port (6379, 80) free everywhere, to skip with the reason.
function testenv.port_holders(port)
  return testenv.ports_in_use()[port] or {}
end

local BLOCK_FIRST, BLOCK_LAST = 20, 31 -- ports 20000-31999: below the ephemeral range

--- testenv.port_block() -> base: a block of 1000 ports, base .. base + 999,
--- on which nothing listens in any network namespace, reserved for this run
--- until testenv.cleanup() so that another run using testenv does not pick
--- it meanwhile. For tests whose verdict depends on what listens in other
--- namespaces (diagnose's other-netns). Blocks start at 20000 .. 31000, so
--- base + 80 and base + 81 stand as 47080 and 47081 do (one digit apart).
--- Waits (bounded, 60 s) while every block is taken.
function testenv.port_block()
  os.execute("mkdir -p " .. PORT_DIR)
  local blocks = {}
  for b = BLOCK_FIRST, BLOCK_LAST do
    blocks[#blocks + 1] = b
  end
  for _ = 1, 120 do
    for i = #blocks, 2, -1 do -- a random order: concurrent runs start apart
      local j = math.random(i)
      blocks[i], blocks[j] = blocks[j], blocks[i]
    end
    local used
    for _, b in ipairs(blocks) do
      local link = PORT_DIR .. "/" .. b
      if not reserved[b] and os.execute("ln -s " .. testenv.owner .. " " .. link .. " 2>/dev/null") then
        used = used or testenv.ports_in_use()
        local busy
        for port = b * 1000, b * 1000 + 999 do
          busy = busy or used[port]
        end
        if not busy then
          reserved[b] = true
          return b * 1000
        end
        os.remove(link)
      end
    end
    testenv.sweep() -- reservations of dead runs
    os.execute("sleep 0.5")
  end
  error(("no port block in %d-%d is free in every namespace and unreserved (see %s)"):format(BLOCK_FIRST * 1000,
    BLOCK_LAST * 1000 + 999, PORT_DIR))
end

-- ---- namespace helpers ------------------------------------------------------

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

--- testenv.cr_ok(ns, code [, prefix]) -> stdout of `connrecipe -e code`
--- inside ns; raises unless it exits 0.
function testenv.cr_ok(ns, code, prefix)
  local r = testenv.cr_in_netns(ns, code, prefix)
  assert(r.code == 0, "connrecipe failed: " .. r.stderr .. r.stdout)
  return r.stdout
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
