-- whoowns.lua on Unix socket paths nothing in the socket table holds: a
-- stale file a killed server left behind, a file that is not a socket, and a
-- socket bound from another network namespace. Real socat servers in private
-- network namespaces.
local testenv = require "testenv"
local dkjson = require "dkjson"
local q = testenv.quote

describe("whoowns.lua on a socket path", function()
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end)

  -- Starts socat listening on a Unix socket inside a namespace; returns its pid.
  local function unix_server(path, namespace)
    local pidfile = path .. ".pid"
    testenv.background_in(namespace or netns(), "timeout 60 sh -c "
      .. q(("echo $$ >%s; exec socat UNIX-LISTEN:%s,fork SYSTEM:true"):format(q(pidfile), path)))
    assert(testenv.wait_socket(path), "socat did not create " .. path)
    local pid = tonumber((testenv.read_file(pidfile) or ""):match("%d+"))
    assert(pid, "no pid in " .. pidfile)
    return pid
  end

  local function whoowns(args, namespace)
    local r = testenv.run_in_netns(namespace or netns(), args)
    return r, r.stdout .. r.stderr
  end

  it("says a socket file left by a killed server is stale, and exits 1", function()
    local dir = testenv.tmpdir()
    local path = dir .. "/app.sock"
    local pid = unix_server(path)
    local r, out = whoowns { "whoowns.lua", path }
    assert.equal(0, r.code, out)
    assert.matches("socat%(" .. pid .. "%)", r.stdout)

    assert(os.execute("kill -KILL " .. pid)) -- no chance to remove its socket file
    assert(testenv.wait_for(function()
      return testenv.sh("kill -0 " .. pid).code ~= 0
    end))
    assert.equal(0, testenv.sh("test -S " .. q(path)).code, "the socket file should be left behind")

    r, out = whoowns { "whoowns.lua", path }
    assert.equal(1, r.code, out)
    assert.matches(path .. " is a stale socket file", r.stdout, 1, true)
    assert.matches("rm " .. path, r.stdout, 1, true)
    assert.not_matches("free to bind", r.stdout)

    r, out = whoowns { "whoowns.lua", path, "--json" }
    assert.equal(1, r.code, out)
    local doc = dkjson.decode(r.stdout)
    assert.is_true(doc.stale)
    assert.equal("refused", doc.probe)
    assert.same({}, doc.sockets)
  end)

  it("says a path that is not a socket blocks binding", function()
    local path = testenv.tmpdir() .. "/plain"
    testenv.write_file(path, "not a socket\n")
    local r, out = whoowns { "whoowns.lua", path }
    assert.equal(1, r.code, out)
    assert.matches("exists and is not a socket", r.stdout)
    assert.not_matches("free to bind", r.stdout)
  end)

  it("a missing path is free to bind", function()
    local path = testenv.tmpdir() .. "/none.sock"
    local r, out = whoowns { "whoowns.lua", path, "--json" }
    assert.equal(1, r.code, out)
    local doc = dkjson.decode(r.stdout)
    assert.equal("missing", doc.probe)
    assert.is_nil(doc.stale)
  end)

  it("a socket bound from another network namespace accepts connections: not stale, exit 0", function()
    local other = testenv.netns()
    local path = testenv.tmpdir() .. "/elsewhere.sock"
    unix_server(path, other)
    local r, out = whoowns { "whoowns.lua", path }
    assert.equal(0, r.code, out)
    assert.matches("accepts connections, but no socket in this network namespace holds it", r.stdout)
    assert.not_matches("stale", r.stdout)
  end)
  it("a socket bound from another namespace with a full accept queue is held, not free to bind", function()
    local other = testenv.netns()
    local path = testenv.tmpdir() .. "/full.sock"
    testenv.background_in(other, "timeout 60 python3 -c " .. q(([[
import socket, time
s = socket.socket(socket.AF_UNIX); s.bind(%q); s.listen(0)
held = []
for _ in range(4):
    c = socket.socket(socket.AF_UNIX); c.setblocking(False)
    try: c.connect(%q); held.append(c)
    except BlockingIOError: break
open(%q + ".ready", "w").close()
time.sleep(60)
]]):format(path, path, path)))
    assert(testenv.wait_for(function()
      return testenv.sh("test -e " .. q(path .. ".ready")).code == 0
    end), "the server did not fill its queue")
    local r, out = whoowns { "whoowns.lua", path, "--json" }
    local doc = dkjson.decode(r.stdout)
    assert.equal("busy", doc and doc.probe, out)
    r, out = whoowns { "whoowns.lua", path }
    assert.not_matches("free to bind", r.stdout)
    assert.equal(0, r.code, out)
  end)
  it("a listener whose file was deleted and replaced by a stale one does not hold the path any more", function()
    local path = testenv.tmpdir() .. "/replaced.sock"
    -- the server binds and listens, its file is removed, and a socket that
    -- never listens takes the path (a second instance that died at start)
    testenv.background_in(netns(), "timeout 60 python3 -c " .. q(([[
import socket, os, time
s = socket.socket(socket.AF_UNIX); s.bind(%q); s.listen(5); os.unlink(%q)
t = socket.socket(socket.AF_UNIX); t.bind(%q); t.close()
open(%q + ".ready", "w").close()
time.sleep(60)
]]):format(path, path, path, path)))
    assert(testenv.wait_for(function()
      return testenv.sh("test -e " .. q(path .. ".ready")).code == 0
    end), "the server did not start")
    local r, out = whoowns { "whoowns.lua", path }
    assert.matches("stale", r.stdout, 1, true)
    assert.equal(1, r.code, out)
    r, out = whoowns { "whoowns.lua", path, "--json" }
    local doc = dkjson.decode(r.stdout)
    assert.equal("refused", doc and doc.probe, out)
    assert.is_true(doc.stale)
  end)
end)
