-- System failures carry the errno's name (nil, message, code, luv's
-- convention) so that Lua decides on the code, never on strerror text.
local testenv = require "testenv"
local dkjson = require "dkjson"
local cr = require "connrecipe"
local q = testenv.quote

local NOBODY = "setpriv --reuid=65534 --regid=65534 --clear-groups "

describe("errno names", function()
  after_each(testenv.cleanup)

  it("names errno numbers", function()
    assert.equal("ENOENT", cr._errno_name(2))
    assert.equal("ESRCH", cr._errno_name(3))
    assert.has_error(function()
      cr._errno_name(0)
    end)
  end)

  it("file reads of the fact modules fail with the errno's name", function()
    local util = require "connrecipe.sysutil"
    local none, msg, code = util.read("/nonexistent/connrecipe")
    assert.is_nil(none)
    assert.equal("/nonexistent/connrecipe: not found", msg)
    assert.equal("ENOENT", code)
    none, msg, code = util.read(testenv.tmpdir())
    assert.is_nil(none)
    assert.matches(": Is a directory$", msg)
    assert.equal("EISDIR", code)
  end)

  it("a process that does not exist is ESRCH", function()
    local none, msg, code = cr.run(cr.process.get, 0x3ffffff0)
    assert.is_nil(none)
    assert.equal("no process " .. 0x3ffffff0, msg)
    assert.equal("ESRCH", code)
  end)

  it("a namespace that cannot be entered says why by name, not only in words", function()
    local why = testenv.needs_root() or (not testenv.have("setpriv") and "setpriv not installed")
    if why then
      return pending(why)
    end
    -- a named namespace no process is in: nobody may not setns() into it, and
    -- without a member there is no /proc/PID/net to read instead
    local ns = testenv.netns()
    local inode = math.tointeger(tonumber(testenv.sh_ok("stat -L -c %i /run/netns/" .. ns).stdout:match("%d+")))
    local code = [[
      local json = require "connrecipe.json"
      local _, info = cr.listeners { proto = "tcp", netns = "all" }
      for _, n in ipairs(info.namespaces) do
        if n.inode == ]] .. inode .. [[ then print(json.encode(n)) end
      end
    ]]
    local r = testenv.sh(NOBODY .. q(testenv.bin) .. " -e " .. q(code))
    assert.equal(0, r.code, r.stderr)
    local entry = assert(dkjson.decode(r.stdout), "the namespace is not listed: " .. r.stdout)
    assert.equal(ns, entry.name)
    assert.equal("EPERM", entry.errno)
    assert.equal("Operation not permitted", entry.error)
    assert.equal("none", entry.via)
  end)
end)

describe("ctx:check", function()
  after_each(testenv.cleanup)

  it("keeps the code of a nil, message, code failure in the check's record", function()
    local recipe = testenv.tmpdir() .. "/check_code.lua"
    testenv.write_file(recipe, [[
      return cr.recipe {
        name = "check_code",
        run = function(ctx)
          local p, msg, code = ctx:check("process", cr.process.get, 0x3ffffff0)
          ctx:check("fine", function() return 1 end)
          print(tostring(p), msg, code, ctx.checks[1].code, tostring(ctx.checks[2].code))
          return 0
        end,
      }
    ]])
    local r = testenv.run({ recipe })
    assert.equal(0, r.code, r.stderr)
    assert.equal("nil\tno process " .. 0x3ffffff0 .. "\tESRCH\tESRCH\tnil\n", r.stdout)
  end)

  it("shows a read that gave no result, with its code, in -v and --json", function()
    local recipe = testenv.tmpdir() .. "/check_shown.lua"
    testenv.write_file(recipe, [[
      return cr.recipe {
        name = "check_shown",
        run = function(ctx)
          ctx:check("the process", cr.process.get, 0x3ffffff0)
          ctx:check("a fine read", function() return 1 end)
          ctx:finding { id = "done", severity = "ok", summary = "done" }
        end,
      }
    ]])
    local r = testenv.run({ recipe, "-v" })
    assert.equal(0, r.code, r.stderr)
    assert.matches("the process +[%d.]+ ms  no result: no process " .. 0x3ffffff0 .. " %(ESRCH%)", r.stdout)
    assert.matches("a fine read +[%d.]+ ms  ok", r.stdout)
    r = testenv.run({ recipe, "--json" })
    local doc = dkjson.decode(r.stdout)
    assert.equal("ESRCH", doc.checks[1].code)
    assert.equal("no process " .. 0x3ffffff0, doc.checks[1].failure)
    assert.is_nil(doc.checks[2].failure)
  end)
end)
