-- What connrecipe runs and writes on a shared host (docs/security.md), tried
-- as a hostile local user would: modules planted in the current directory,
-- recipes another user can change, a symbolic link where the REPL history
-- goes. As root the victim is root; with setpriv the victim is `nobody` and
-- the attacker another user. Every planted file leaves a marker when it runs.
local testenv = require "testenv"
local json = require "dkjson"
local q = testenv.quote

local NOBODY = "setpriv --reuid=nobody --regid=nogroup --clear-groups"

local function need_root()
  local why = testenv.needs_root()
  if not why and not testenv.have("setpriv") then
    why = "setpriv not installed"
  end
  if why then
    pending(why)
    error("skipped: " .. why)
  end
end

local function sh_ok(cmd)
  return testenv.sh_ok(cmd)
end

-- A module that, when Lua runs it, leaves MARKER.
local function trap(marker)
  return ("io.open(%q, 'w'):close()\nreturn {}\n"):format(marker)
end

after_each(testenv.cleanup)

describe("nothing is loaded from the current directory", function()
  -- A directory like /tmp holding what another user planted for the modules
  -- connrecipe loads: ./cjson/safe.lua, ./dkjson.lua, ./connrecipe/json.lua
  -- (and ./?/init.lua forms), each leaving a marker in marks/ when run.
  local function planted()
    local dir = testenv.tmpdir()
    sh_ok(("mkdir -p %s/cjson/safe %s/dkjson %s/connrecipe %s/marks && chmod -R a+rX %s && chmod 777 %s/marks")
      :format(dir, dir, dir, dir, dir, dir))
    testenv.write_file(dir .. "/cjson/safe.lua", trap(dir .. "/marks/cjson.safe"))
    testenv.write_file(dir .. "/cjson/safe/init.lua", trap(dir .. "/marks/cjson.safe-init"))
    testenv.write_file(dir .. "/dkjson.lua", trap(dir .. "/marks/dkjson"))
    testenv.write_file(dir .. "/dkjson/init.lua", trap(dir .. "/marks/dkjson-init"))
    testenv.write_file(dir .. "/connrecipe/json.lua", trap(dir .. "/marks/connrecipe.json"))
    sh_ok("chmod -R a+r " .. dir)
    return dir
  end

  local function marks(dir)
    return testenv.sh("ls " .. dir .. "/marks").stdout
  end

  -- connrecipe ARGS from DIR inside namespace NS, optionally as PREFIX
  local function run_from(dir, ns, args, prefix)
    local parts = {}
    for i, a in ipairs(args) do
      parts[i] = q(a)
    end
    local env = "LUA_PATH='./?.lua;;' LUA_PATH_5_4='./?.lua;;' LUA_CPATH='./?.so;;' LUA_CPATH_5_4='./?.so;;' "
      .. "LUA_INIT=" .. q("io.open('" .. dir .. "/marks/LUA_INIT', 'w'):close()")
    return testenv.sh(("cd %s && %s env %s %s %s %s"):format(q(dir), testenv.in_netns(ns, ""), env, prefix or "",
      q(testenv.bin), table.concat(parts, " ")))
  end

  it("diagnose, listeners, whoowns and the firewall facts run none of the planted modules", function()
    need_root()
    local ns, dir = testenv.netns(), planted()
    local r = run_from(dir, ns, { "diagnose.lua", "127.0.0.1:7071" })
    assert.equal(1, r.code, r.stderr) -- refused: nothing listens there
    assert.matches("refused", r.stdout)
    r = run_from(dir, ns, { "diagnose.lua", "--json", "127.0.0.1:7071" })
    assert.equal(1, r.code, r.stderr)
    assert.is_table(json.decode(r.stdout))
    r = run_from(dir, ns, { "listeners.lua", "--json" })
    assert.equal(0, r.code, r.stderr)
    assert.is_table(json.decode(r.stdout))
    r = run_from(dir, ns, { "whoowns.lua", "--json", "7071" })
    assert.is_table(json.decode(r.stdout), r.stderr)
    r = run_from(dir, ns, { "-e", "local rules = assert(cr.firewall.rules()); print(type(rules))" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("", marks(dir))
  end)

  it("nor as a user running it", function()
    need_root()
    local ns, dir = testenv.netns(), planted()
    local r = run_from(dir, ns, { "listeners.lua", "--json" }, NOBODY)
    assert.equal(0, r.code, r.stderr)
    assert.is_table(json.decode(r.stdout))
    r = run_from(dir, ns, { "-e", "print(require('connrecipe.sysutil').json_decode('[\"five\"]')[1])" }, NOBODY)
    assert.equal("five\n", r.stdout, r.stderr)
    assert.equal("", marks(dir))
    -- the check can fail: the user's own lua5.4 does run what is planted
    local lua = os.getenv("CONNRECIPE_LUA") or "lua5.4"
    r = testenv.sh(("cd %s && %s %s -e %s"):format(q(dir), NOBODY, q(lua), q("require 'cjson.safe'")))
    assert.equal(0, r.code, r.stderr)
    assert.equal("cjson.safe\n", marks(dir))
  end)

  -- the system's Lua directory that holds dkjson, as the stock lua5.4 finds it
  local function dkjson_dir()
    local lua = os.getenv("CONNRECIPE_LUA") or "lua5.4"
    local found = testenv.sh(q(lua) .. " -e 'print(package.searchpath(\"dkjson\", package.path))'").stdout
    return found:match("^(/.+)/dkjson%.lua\n$")
  end

  it("a module missing from the system is not found in the current directory either", function()
    need_root()
    -- a mount namespace where the system's Lua directory (dkjson's) is empty
    local sysdir = dkjson_dir()
    if not sysdir then
      return pending("dkjson is not in a system Lua directory here")
    end
    local dir = planted()
    local inside = ("mount -t tmpfs -o mode=755 none %s && %s listeners.lua --json"):format(q(sysdir), q(testenv.bin))
    local r = testenv.sh(("cd %s && unshare -m sh -c %s"):format(q(dir), q(inside)))
    assert.equal(3, r.code, r.stdout .. r.stderr)
    assert.matches("module 'dkjson' not found", r.stderr)
    assert.equal("", marks(dir))
  end)

  it("a system Lua directory anyone can write to is left out of the search path, with one warning", function()
    need_root()
    local sysdir = dkjson_dir()
    if not sysdir then
      return pending("dkjson is not in a system Lua directory here")
    end
    -- a mount namespace where it is world-writable (?.lua and ?/init.lua both name it)
    local inside = ("mount -t tmpfs -o mode=777 none %s && %s -e 'print(package.path)'"):format(q(sysdir),
      q(testenv.bin))
    local r = testenv.sh("unshare -m sh -c " .. q(inside))
    assert.equal(0, r.code, r.stderr)
    assert.is_nil(r.stdout:find(sysdir, 1, true), r.stdout)
    local warning = "connrecipe: not loading Lua modules from [^\n]*" .. sysdir:gsub("%p", "%%%0")
    local _, warnings = r.stderr:gsub(warning, "")
    assert.equal(1, warnings, r.stderr)
  end)

  it("connrecipe.so in a stock lua5.4 loads its own JSON modules from the system only", function()
    local dir = planted()
    local lua = os.getenv("CONNRECIPE_LUA") or "lua5.4"
    local code = ([[
package.cpath = %q .. "/?.so;" .. package.cpath
local before = package.path .. package.cpath
local cr = require "connrecipe"
print(require("connrecipe.sysutil").json_decode('["seven"]')[1], require("connrecipe.json").encode({ 1 }))
print(before == package.path .. package.cpath)
]]):format(os.getenv("CONNRECIPE_MODULE_DIR"))
    local preload = os.getenv("CONNRECIPE_ASAN_PRELOAD")
    if preload then -- an instrumented module needs the ASan runtime in the interpreter
      lua = "LD_PRELOAD=" .. q(preload) .. " ASAN_OPTIONS=detect_leaks=0 " .. q(lua)
    else
      lua = q(lua)
    end
    local r = testenv.sh(("cd %s && %s -e %s"):format(q(dir), lua, q(code)))
    assert.equal(0, r.code, r.stderr)
    assert.equal("seven\t[1]\ntrue\n", r.stdout)
    assert.equal("", marks(dir))
  end)

  it("runs no program from the current directory through an empty or relative PATH entry", function()
    local dir = testenv.tmpdir()
    testenv.write_file(dir .. "/ip", "#!/bin/sh\ntouch " .. dir .. "/ran\n")
    sh_ok("chmod 755 " .. dir .. "/ip")
    local r = testenv.sh(("cd %s && PATH=:.:%s %s -e %s"):format(q(dir), q(os.getenv("PATH")), q(testenv.bin),
      q("local r = cr.exec{'ip', '-V'}; print(r.status, os.getenv('PATH'):find('^:') == nil)")))
    assert.equal(0, r.code, r.stderr)
    assert.equal("0\ttrue\n", r.stdout)
    assert.is_nil(testenv.read_file(dir .. "/ran"))
    -- the check can fail: a shell with the same PATH runs it
    testenv.sh(("cd %s && PATH=:.:$PATH sh -c 'ip -V'"):format(q(dir)))
    assert.is_not_nil(testenv.read_file(dir .. "/ran"))
  end)
end)

describe("a recipe another user controls is not run", function()
  local marks -- a directory anyone may write to: DIR/NAME.ran when recipe NAME runs

  before_each(function()
    marks = testenv.tmpdir()
    sh_ok("chmod 777 " .. marks)
  end)

  local function recipe(dir, name)
    local file = dir .. "/" .. name .. ".lua"
    local marker = marks .. "/" .. name .. ".ran"
    testenv.write_file(file, ("-- %s\nio.open(%q, 'w'):close()\nprint(%q)\n"):format(name, marker, name .. " ran"))
    sh_ok("chmod 644 " .. q(file))
    return file
  end

  local function ran(name)
    return testenv.read_file(marks .. "/" .. name .. ".ran") ~= nil
  end

  local function escaped(s)
    return (s:gsub("%p", "%%%0"))
  end

  it("runs a root-owned recipe and skips one in a world-writable directory, with a warning naming it", function()
    need_root()
    local cfg = testenv.trusted_tmpdir()
    local dir = cfg .. "/connrecipe/recipes"
    sh_ok("mkdir -p " .. dir)
    recipe(dir, "mine")
    local env = "CONNRECIPE_PATH= XDG_CONFIG_HOME=" .. cfg
    local r = testenv.run({ "mine" }, { env = env })
    assert.equal("mine ran\n", r.stdout, r.stderr)
    assert.equal("", r.stderr)
    os.remove(marks .. "/mine.ran")

    sh_ok("chmod 777 " .. dir)
    r = testenv.run({ "mine" }, { env = env })
    assert.equal(2, r.code)
    assert.equal(("connrecipe: skipping recipe %s/mine.lua: %s: writable by others (mode 0777)\n"):format(dir, dir),
      r.stderr:match("^[^\n]*\n"))
    assert.matches("recipe 'mine' not found", r.stderr)
    assert.is_false(ran("mine"))
    local list = testenv.run({ "--list" }, { env = env })
    assert.equal(0, list.code)
    assert.is_nil(list.stdout:find("mine", 1, true))
    assert.matches("skipping recipe " .. escaped(dir) .. "/mine%.lua", list.stderr)
  end)

  it("skips a recipe, a directory or a link owned by another user", function()
    need_root()
    local dir = testenv.trusted_tmpdir()
    sh_ok("chown nobody " .. recipe(dir, "theirs"))
    local r = testenv.run({ "theirs" }, { env = "CONNRECIPE_PATH=" .. dir })
    assert.equal(2, r.code)
    assert.matches("skipping recipe " .. escaped(dir) .. "/theirs%.lua: " .. escaped(dir)
      .. "/theirs%.lua: owned by uid 65534 %(nobody%), not by root\n", r.stderr)

    sh_ok(("mkdir %s/sub && chown nobody %s/sub"):format(dir, dir))
    recipe(dir .. "/sub", "below")
    r = testenv.run({ "below" }, { env = "CONNRECIPE_PATH=" .. dir .. "/sub" })
    assert.equal(2, r.code)
    assert.matches(escaped(dir) .. "/sub: owned by uid 65534", r.stderr)

    recipe(dir, "good")
    sh_ok(("ln -s %s/good.lua %s/linked.lua && chown -h nobody %s/linked.lua"):format(dir, dir, dir))
    r = testenv.run({ "linked" }, { env = "CONNRECIPE_PATH=" .. dir })
    assert.equal(2, r.code)
    assert.matches(escaped(dir) .. "/linked%.lua: owned by uid 65534", r.stderr)
    assert.is_false(ran("theirs") or ran("below") or ran("good"))
  end)

  it("an untrusted recipe named like a built-in falls back to the built-in", function()
    need_root()
    local dir = testenv.trusted_tmpdir()
    sh_ok("chmod 666 " .. recipe(dir, "listeners"))
    local r = testenv.run({ "listeners.lua", "--json" }, { env = "CONNRECIPE_PATH=" .. dir })
    assert.equal(0, r.code, r.stderr)
    assert.equal("listeners", json.decode(r.stdout).recipe)
    assert.matches("skipping recipe " .. escaped(dir) .. "/listeners%.lua: " .. escaped(dir)
      .. "/listeners%.lua: writable by others %(mode 0666%)", r.stderr)
    assert.is_false(ran("listeners"))
  end)

  it("escapes the control bytes of the name it warns about", function()
    need_root()
    local dir = testenv.trusted_tmpdir()
    sh_ok("chmod 666 " .. q(recipe(dir, "x\27]0;pwned\7\27[2J")))
    local r = testenv.run({ "--list" }, { env = "CONNRECIPE_PATH=" .. dir })
    assert.equal(0, r.code)
    assert.matches("skipping recipe " .. escaped(dir) .. "/x\\x1b%]0;pwned\\a\\x1b%[2J%.lua", r.stderr)
    assert.is_nil(r.stderr:find("[%z\1-\9\11-\31\127]"))
  end)

  it("as a user: runs their own recipe, skips one another user owns or can change", function()
    need_root()
    local base = testenv.trusted_tmpdir()
    sh_ok(("mkdir %s/own %s/other %s/open && chmod 777 %s/open"):format(base, base, base, base))
    sh_ok("chown nobody " .. recipe(base .. "/own", "own") .. " " .. base .. "/own")
    sh_ok("chown daemon " .. recipe(base .. "/other", "other") .. " " .. base .. "/other")
    recipe(base .. "/open", "open")
    local function as_nobody(name)
      return testenv.sh(("CONNRECIPE_PATH=%s/own:%s/other:%s/open HOME=/nonexistent %s %s %s"):format(base, base,
        base, NOBODY, q(testenv.bin), name))
    end
    local r = as_nobody("own")
    assert.equal("own ran\n", r.stdout, r.stderr)
    r = as_nobody("other")
    assert.equal(2, r.code)
    assert.matches(escaped(base) .. "/other: owned by uid %d+ %(daemon%), not by root or the user running "
      .. "connrecipe", r.stderr)
    r = as_nobody("open")
    assert.equal(2, r.code)
    assert.matches(escaped(base) .. "/open: writable by others %(mode 0777%)", r.stderr)
    assert.is_false(ran("other") or ran("open"))
  end)
end)

describe("the REPL history", function()
  local function repl(state, prefix)
    local steps = json.encode {
      { expect = "cr> " }, { send = "'typed'..40+2\r" }, { expect = "typed42" }, { expect = "cr> " },
      { send = "\4" },
    }
    local r = testenv.sh(("python3 %s/tests/lib/ptydrive.py %s -- env XDG_STATE_HOME=%s %s %s -i"):format(
      testenv.source_dir, q(steps), q(state), prefix or "", q(testenv.bin)))
    assert.equal(0, r.code, r.stderr)
    local doc = json.decode(r.stdout)
    assert.is_nil(doc.failed, "a step timed out; screen so far:\n" .. doc.output)
    return doc
  end

  local function mode(path)
    return testenv.sh("stat -c %a " .. q(path)).stdout
  end

  it("is created 0600, made 0600 when it was more open, and keeps what was typed", function()
    local state = testenv.tmpdir()
    local doc = repl(state)
    assert.equal(0, doc.status)
    local file = state .. "/connrecipe/history"
    assert.equal("600\n", mode(file))
    assert.matches("'typed'..40+2", testenv.read_file(file), 1, true)
    sh_ok("chmod 644 " .. file)
    repl(state)
    assert.equal("600\n", mode(file))
  end)

  it("does not write through a symbolic link planted where it goes", function()
    need_root()
    local state = testenv.tmpdir() -- a user's state directory that root's environment points to
    local target = testenv.tmpdir() .. "/precious"
    testenv.write_file(target, "root's data\n")
    sh_ok(("mkdir %s/connrecipe && ln -s %s %s/connrecipe/history && chown -hR nobody %s/connrecipe")
      :format(state, target, state, state))
    local doc = repl(state)
    assert.equal(0, doc.status)
    assert.equal("root's data\n", testenv.read_file(target))
    assert.matches("connrecipe: not using the REPL history " .. state:gsub("%p", "%%%0")
      .. "/connrecipe/history: it is a symbolic link", doc.output)
    assert.equal(target .. "\n", testenv.sh("readlink " .. state .. "/connrecipe/history").stdout)
  end)

  it("leaves another user's history alone", function()
    need_root()
    local state = testenv.tmpdir()
    local file = state .. "/connrecipe/history"
    sh_ok(("mkdir %s/connrecipe && printf '_HiStOrY_V2_\\ntheirs\\n' >%s && chown -R nobody %s/connrecipe")
      :format(state, file, state))
    local doc = repl(state)
    assert.equal(0, doc.status)
    assert.matches("not using the REPL history .-: owned by uid 65534, not by uid 0", doc.output)
    assert.equal("_HiStOrY_V2_\ntheirs\n", testenv.read_file(file))
  end)

  it("as a user, is not written through another user's link", function()
    need_root()
    local state = testenv.tmpdir()
    local notes = testenv.tmpdir() .. "/notes"
    testenv.write_file(notes, "the user's notes\n")
    -- a shared state directory another user (daemon) could write to
    sh_ok(("chown nobody %s && chmod 755 %s && mkdir -m 1777 %s/connrecipe && ln -s %s %s/connrecipe/history"
      .. " && chown -h daemon %s/connrecipe/history && chmod 755 %s"):format(notes, notes:match("^(.*)/"), state,
      notes, state, state, state))
    local doc = repl(state, NOBODY)
    assert.equal(0, doc.status)
    assert.equal("the user's notes\n", testenv.read_file(notes))
    assert.matches("it is a symbolic link", doc.output)
  end)

  it("that cannot be saved is a warning, not a failure", function()
    local state = testenv.tmpdir()
    testenv.write_file(state .. "/connrecipe", "a file where the directory should be\n")
    local doc = repl(state)
    assert.equal(0, doc.status)
    assert.matches("connrecipe: cannot save the REPL history to " .. state:gsub("%p", "%%%0")
      .. "/connrecipe/history: Not a directory", doc.output)
  end)
end)
