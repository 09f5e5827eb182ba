-- cr.sys.hosts and cr.sys.resolver, parsed from fixture files.
local cr = require "connrecipe"
local testenv = require "testenv"

local fixtures = testenv.source_dir .. "/tests/fixtures/sysfacts/"

describe("cr.sys.hosts", function()
  it("parses comments, tabs, IPv6 and duplicates, keeping line numbers", function()
    local entries, bad = cr.sys.hosts(fixtures .. "hosts")
    assert.same({ addr = "127.0.0.1", family = "inet", names = { "localhost" }, line = 2 }, entries[1])
    assert.same({ addr = "127.0.1.1", family = "inet", names = { "box.example.org", "box" }, line = 3 }, entries[2])
    assert.same({ "localhost", "ip6-localhost", "ip6-loopback" }, entries[3].names)
    assert.equal("inet6", entries[3].family)
    assert.equal("ff02::1%eth0", entries[5].addr)
    assert.equal("inet6", entries[5].family)
    -- duplicates stay, in order
    assert.same({ "app.internal", "app" }, entries[6].names)
    assert.equal(9, entries[6].line)
    assert.same({ "app.internal" }, entries[7].names)
    assert.equal(7, #entries)
    assert.equal(3, #bad)
    assert.equal(11, bad[1].line)
    assert.matches("not an IP address", bad[1].reason)
    assert.matches("without a name", bad[2].reason)
    assert.matches("300.1.1.1", bad[3].reason)
  end)

  it("looks a name up in file order", function()
    local found = cr.sys.hosts_lookup("APP.internal", fixtures .. "hosts")
    assert.equal(2, #found)
    assert.equal("10.0.0.5", found[1].addr)
    assert.equal("10.0.0.6", found[2].addr)
    assert.same({}, cr.sys.hosts_lookup("nothere", fixtures .. "hosts"))
  end)

  it("reads /etc/hosts by default and fails with a reason", function()
    assert.is_table(cr.sys.hosts())
    local e, err = cr.sys.hosts("/nonexistent/hosts")
    assert.is_nil(e)
    assert.equal("/nonexistent/hosts: not found", err)
  end)
end)

describe("cr.sys.resolver", function()
  local paths = {
    nsswitch = fixtures .. "nsswitch.conf",
    gai = fixtures .. "gai.conf",
    host_conf = fixtures .. "host.conf",
    resolv = fixtures .. "resolv.conf",
  }

  it("reads the hosts: line, gai.conf, host.conf and resolv.conf", function()
    local r = cr.sys.resolver(paths)
    assert.same({ "files", "mdns4_minimal", "[NOTFOUND=return]", "dns", "myhostname" }, r.hosts)
    assert.same({}, r.missing)
    assert.equal(3, #r.gai.precedence)
    assert.same({ prefix = "::ffff:0:0/96", value = 100, line = 6 }, r.gai.precedence[3])
    assert.same({ prefix = "2002::/16", value = 2, line = 7 }, r.gai.label[1])
    assert.equal(1, #r.gai.label) -- the commented label line is not one
    assert.equal("::ffff:169.254.0.0/112", r.gai.scopev4[1].prefix)
    assert.is_true(r.gai.reload)
    assert.is_true(r.multi)
    assert.same({ "hosts", "bind" }, r.host_conf.order)
    assert.same({ "10.0.0.53", "fd00::53" }, r.nameservers)
    assert.same({ "corp.example", "lab.example" }, r.search) -- the last of domain/search wins
    assert.same({ ndots = 2, timeout = 3, rotate = true, edns0 = true }, r.options)
  end)

  it("lists missing files and falls back to glibc's default hosts: order", function()
    local r = cr.sys.resolver({
      nsswitch = "/nonexistent/nsswitch.conf", gai = "/nonexistent/gai.conf",
      host_conf = "/nonexistent/host.conf", resolv = "/nonexistent/resolv.conf",
    })
    assert.equal(4, #r.missing)
    assert.is_true(r.hosts_default)
    assert.same({ "dns", "[!UNAVAIL=return]", "files" }, r.hosts)
    assert.is_false(r.multi)
    assert.same({}, r.nameservers)
  end)

  it("reads the real files by default", function()
    local r = cr.sys.resolver()
    assert.is_table(r.hosts)
    assert.is_table(r.nameservers)
  end)
end)
