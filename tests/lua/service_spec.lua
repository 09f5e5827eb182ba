-- cr.service: without systemd as PID 1 (this build machine, most containers)
-- every call says so; the parsers are checked against fixtures.
local cr = require "connrecipe"
local testenv = require "testenv"

local fixtures = testenv.source_dir .. "/tests/fixtures/sysfacts/"
local systemd_up = io.open("/run/systemd/system", "rb") ~= nil

describe("cr.service without systemd", function()
  before_each(function()
    if systemd_up then
      pending("systemd is running here")
    end
  end)

  it("status, logs and for_port return nil, 'systemd is not running'", function()
    local results = {
      { cr.run(cr.service.status, "ssh.service") },
      { cr.run(cr.service.logs, "ssh.service", 5) },
      { cr.run(cr.service.for_port, 22) },
    }
    for _, r in ipairs(results) do
      assert.is_nil(r[1])
      assert.equal("systemd is not running", r[2])
    end
  end)
end)

describe("cr.service arguments", function()
  it("raises on a bad name or port", function()
    assert.has_error(function()
      cr.service.status(nil)
    end)
    assert.has_error(function()
      cr.service.status("--all")
    end)
    assert.has_error(function()
      cr.service.for_port(70000)
    end)
    assert.has_error(function()
      cr.service.logs("x", 0)
    end)
  end)
end)

describe("cr.service parsers", function()
  it("reads systemctl show for a socket unit, with its Listen= addresses", function()
    local p = cr.service.parse_show(testenv.read_file(fixtures .. "systemctl-show-socket.txt"))
    assert.equal("listening", p.SubState)
    assert.same({ { address = "[::]:22", type = "Stream" }, { address = "0.0.0.0:2222", type = "Stream" } }, p.Listen)
  end)

  it("reads systemctl show for a failed service", function()
    local p = cr.service.parse_show(testenv.read_file(fixtures .. "systemctl-show-service.txt"))
    assert.equal("failed", p.ActiveState)
    assert.equal("exit-code", p.Result)
    assert.equal(3, p.NRestarts)
    assert.equal(0, p.MainPID)
    assert.equal(1, p.ExecMainStatus)
    assert.equal("Wed 2026-11-25 10:00:01 UTC", p.ExecMainStartTimestamp)
  end)

  it("reads systemctl list-sockets", function()
    local s = cr.service.parse_list_sockets(testenv.read_file(fixtures .. "list-sockets.txt"))
    assert.equal(4, #s)
    assert.same({
      listen = "127.0.0.1:631", unit = "cups.socket", activates = { "cups.service", "cups-browsed.service" },
    }, s[3])
  end)
end)
