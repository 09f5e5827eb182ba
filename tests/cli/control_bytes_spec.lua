-- No control byte another user chose reaches the terminal. A process renames
-- itself with prctl(PR_SET_NAME) to a name holding ESC, BEL and a newline,
-- puts more in its command line, listens on TCP and on a Unix socket whose
-- path holds them too; a network namespace is named with them. The text of
-- listeners, whoowns, diagnose and the REPL shows them as visible escapes
-- (cr.text.escape); --json keeps the exact values.
local testenv = require "testenv"
local dkjson = require "dkjson"
local q = testenv.quote

local NAME = "ev\27]0;X\7\nil" -- 11 bytes: comm holds 15
local NAME_SHOWN = "ev\\x1b]0;X\\a\\nil"
local ARG = "--title=\27]2;pwned\7\r"
local ARG_SHOWN = "--title=\\x1b]2;pwned\\a\\r"
local SOCK = "s\27[2J\nfake row" -- a Unix socket's file name
local SOCK_SHOWN = "s\\x1b[2J\\nfake row"

-- The offset and byte of the first control byte in s other than the line
-- breaks between lines of output, or nil.
local function raw_control(s)
  local at = s:find("[%z\1-\9\11-\31\127]")
  if not at then
    -- C1 controls as UTF-8, and single bytes 0x80-0x9f that are not part of a character
    at = s:find("\194[\128-\159]")
  end
  return at and ("byte %d at offset %d in: %s"):format(s:byte(at), at, s) or nil
end

local function assert_clean(s, what)
  local bad = raw_control(s)
  assert(not bad, what .. ": raw control " .. (bad or ""))
end

local SERVER = [[
import ctypes, os, socket, sys, time
name, port, path = os.fsencode(sys.argv[1]), int(sys.argv[2]), os.fsencode(sys.argv[3])
ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", port))
t.listen(8)
u = socket.socket(socket.AF_UNIX)
u.bind(path)
u.listen(8)
open(sys.argv[4], "w").write(str(os.getpid()))
time.sleep(60)
]]

describe("control bytes in names other users chose", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, { needs = { "python3", "socat" } })

  local base, dir, pid

  -- The renamed server in the test's namespace: port base + 1, DIR/SOCK.
  local function start_server()
    base = testenv.port_block() -- diagnose looks at every namespace's listeners
    dir = testenv.tmpdir()
    testenv.write_file(dir .. "/server.py", SERVER)
    testenv.background_in(netns(), ("timeout 60 python3 %s %s %d %s %s %s"):format(q(dir .. "/server.py"), q(NAME),
      base + 1, q(dir .. "/" .. SOCK), q(dir .. "/pid"), q(ARG)))
    assert(testenv.wait_listening(netns(), "tcp", base + 1), "the server did not listen")
    assert(testenv.wait_for(function()
      return (testenv.read_file(dir .. "/pid") or ""):match("^%d+$") ~= nil
    end), "the server did not write its pid")
    pid = tonumber(testenv.read_file(dir .. "/pid"))
  end

  local function run(args)
    return testenv.run_in_netns(netns(), args)
  end

  it("listeners: escaped in the table, one row per socket; exact in --json", function()
    start_server()
    local r = run { "listeners.lua" }
    assert.equal(0, r.code, r.stderr)
    assert_clean(r.stdout, "listeners")
    assert.matches(NAME_SHOWN .. "/" .. pid, r.stdout, 1, true)
    local rows = 0
    for line in r.stdout:gmatch("[^\n]+") do
      if line:find("fake row", 1, true) then
        rows = rows + 1
        assert.matches("^unix%s+" .. (dir .. "/" .. SOCK_SHOWN):gsub("%p", "%%%0"), line)
      end
    end
    assert.equal(1, rows, "the socket path forged a row:\n" .. r.stdout)

    r = run { "listeners.lua", "--json" }
    local doc = assert(dkjson.decode(r.stdout), r.stdout)
    local comm, path
    for _, s in ipairs(doc.sockets) do
      if s.port == base + 1 then
        comm = s.processes[1].comm
      elseif s.addr == dir .. "/" .. SOCK then
        path = s.addr
      end
    end
    assert.equal(NAME, comm)
    assert.equal(dir .. "/" .. SOCK, path)
  end)

  it("whoowns: escaped in the tree and the command line; exact in --json", function()
    start_server()
    local r = run { "whoowns.lua", tostring(base + 1) }
    assert.equal(0, r.code, r.stderr)
    assert_clean(r.stdout, "whoowns")
    assert.matches(NAME_SHOWN .. "(" .. pid .. ")", r.stdout, 1, true)
    assert.matches(ARG_SHOWN, r.stdout, 1, true)

    r = run { "whoowns.lua", dir .. "/" .. SOCK }
    assert.equal(0, r.code, r.stderr)
    assert_clean(r.stdout, "whoowns PATH")
    assert.matches("unix " .. dir .. "/" .. SOCK_SHOWN .. " listen", r.stdout, 1, true)

    r = run { "whoowns.lua", "--json", tostring(base + 1) }
    local doc = assert(dkjson.decode(r.stdout), r.stdout)
    local holder = doc.sockets[1].holders[1]
    assert.equal(NAME, holder.comm)
    assert.equal(ARG, holder.cmdline[#holder.cmdline])
  end)

  it("diagnose: escaped in the report; exact in --json", function()
    start_server()
    local r = run { "diagnose.lua", "127.0.0.1:" .. (base + 1) }
    assert.equal(0, r.code, r.stdout .. r.stderr)
    assert_clean(r.stdout, "diagnose")
    assert.matches(NAME_SHOWN .. " (pid " .. pid .. ")", r.stdout, 1, true)

    r = run { "diagnose.lua", "--json", "127.0.0.1:" .. (base + 1) }
    local doc = assert(dkjson.decode(r.stdout), r.stdout)
    assert.matches(NAME .. " (pid " .. pid .. ")", doc.findings[1].summary, 1, true)
  end)

  it("a network namespace's name: escaped in listeners --all-netns and diagnose; exact in --json", function()
    base = testenv.port_block()
    local odd = "crtest-" .. testenv.owner .. "-\27[31mred\7\nx"
    local shown = "crtest-" .. testenv.owner .. "-\\x1b[31mred\\a\\nx"
    testenv.sh_ok("ip netns add " .. q(odd))
    finally(function()
      testenv.cleanup() -- its server first
      testenv.sh("ip netns del " .. q(odd))
    end)
    testenv.sh_ok("ip -n " .. q(odd) .. " link set lo up")
    testenv.tcp_listen(q(odd), base + 2)

    local r = run { "listeners.lua", "--all-netns", "--proto", "tcp", "--port", tostring(base + 2) }
    assert.equal(0, r.code, r.stderr)
    assert_clean(r.stdout, "listeners --all-netns")
    assert.matches(shown, r.stdout, 1, true)

    r = run { "diagnose.lua", "127.0.0.1:" .. (base + 2) }
    assert.equal(1, r.code, r.stdout .. r.stderr)
    assert_clean(r.stdout, "diagnose other-netns")
    assert.matches("other-netns", r.stdout, 1, true)
    assert.matches(shown, r.stdout, 1, true)

    r = run { "diagnose.lua", "--json", "127.0.0.1:" .. (base + 2) }
    local doc = assert(dkjson.decode(r.stdout), r.stdout)
    assert.equal("other-netns", doc.verdict)
    assert.matches(odd, doc.findings[1].summary, 1, true)
  end)

  it("the REPL: escaped in a process line, a string and an error", function()
    start_server()
    local steps = {
      { expect = "cr> " },
      { send = ("cr.process.get(%d)\r"):format(pid) }, { expect = "cr> " },
      { send = ("cr.process.get(%d).comm\r"):format(pid) }, { expect = "cr> " },
      { send = ("error(cr.process.get(%d).comm)\r"):format(pid) }, { expect = "cr> " },
      { send = "\4" },
    }
    local cmd = ("python3 %s/tests/lib/ptydrive.py %s -- ip netns exec %s env XDG_STATE_HOME=%s %s"):format(
      testenv.source_dir, q(dkjson.encode(steps)), netns(), q(testenv.tmpdir()), q(testenv.bin))
    local r = testenv.sh(cmd)
    assert.equal(0, r.code, r.stderr)
    local doc = dkjson.decode(r.stdout)
    assert.is_nil(doc.failed, "a step timed out; screen so far:\n" .. doc.output)
    local out = doc.output:gsub("\r\n", "\n")
    assert.matches("pid " .. pid .. " " .. NAME_SHOWN, out, 1, true) -- the process line
    assert.matches('"' .. NAME_SHOWN .. '"', out, 1, true) -- the string
    assert.matches("stdin:1: " .. NAME_SHOWN, out, 1, true) -- the error
    assert.is_nil(out:find(NAME, 1, true), "the raw name reached the terminal")
    assert.is_nil(out:find("\27]0;X", 1, true), "the raw title sequence reached the terminal")
  end)
end)

describe("cr.format_sockets", function()
  it("escapes every cell and lines columns up by characters, not bytes", function()
    local code = [[io.write(cr.format_sockets({
      { proto = "tcp", family = "inet", addr = "127.0.0.1", port = 80, recvq = 0, sendq = 1,
        processes = { { pid = 3, comm = "caf\u{e9}\u{2603}" } }, user = "\u{e9}lodie" },
      { proto = "tcp", family = "inet", addr = "127.0.0.1", port = 81, recvq = 0, sendq = 1,
        processes = { { pid = 4, comm = "a\27[2J\n" } }, user = "r\xffoot" } }))]]
    local r = testenv.run { "-e", code }
    assert.equal(0, r.code, r.stderr)
    assert.equal("PROTO  LOCAL ADDRESS  RECV-Q  SEND-Q  PROCESS       USER      UNIT/CONTAINER\n"
      .. "tcp    127.0.0.1:80        0       1  caf\u{e9}\u{2603}/3       \u{e9}lodie    -\n"
      .. "tcp    127.0.0.1:81        0       1  a\\x1b[2J\\n/4  r\\xffoot  -\n", r.stdout)
  end)
end)

teardown(function()
  testenv.cleanup()
end)
