-- Target parsing: what users type, and the one-line errors for bad input.
package.path = os.getenv("CONNRECIPE_SOURCE_DIR") .. "/lua/?.lua;" .. package.path
local target = require "connrecipe.target"

describe("target.parse", function()
  local good = {
    { "localhost:8080", { kind = "inet", host = "localhost", port = 8080, display = "localhost:8080" } },
    { "127.0.0.1:22", { kind = "inet", host = "127.0.0.1", port = 22 } },
    { "[::1]:5432", { kind = "inet", host = "::1", port = 5432, display = "[::1]:5432" } },
    { "8080", { kind = "inet", host = "localhost", port = 8080 } },
    { "http://localhost", { kind = "inet", host = "localhost", port = 80, scheme = "http" } },
    { "https://example.test:8443/path?q=1", { host = "example.test", port = 8443, path = "/path?q=1" } },
    { "postgres://user:secret@db:5433/app", { host = "db", port = 5433, scheme = "postgres" } },
    { "postgresql://db/app", { port = 5432 } },
    { "redis://[::1]", { host = "::1", port = 6379 } },
    { "rediss://cache.test", { port = 6379 } },
    { "mysql://db", { port = 3306 } },
    { "amqp://mq", { port = 5672 } },
    { "mongodb://mongo", { port = 27017 } },
    { "ssh://host", { port = 22 } },
    { "ws://h", { port = 80 } },
    { "wss://h", { port = 443 } },
    { "ftp://h", { port = 21 } },
    { "ldap://h", { port = 389 } },
    { "smtp://h", { port = 25 } },
    { "imap://h", { port = 143 } },
    { "HTTP://h", { port = 80, scheme = "http" } },
    { "unix:/run/app.sock", { kind = "unix", path = "/run/app.sock", abstract = false } },
    { "unix:@app", { kind = "unix", path = "@app", abstract = true } },
    { "/var/run/redis.sock", { kind = "unix", path = "/var/run/redis.sock" } },
  }
  for _, case in ipairs(good) do
    it("parses " .. case[1], function()
      local t, err = target.parse(case[1])
      assert.is_nil(err)
      for k, v in pairs(case[2]) do
        assert.equal(v, t[k], k)
      end
    end)
  end

  local bad = {
    { "localhost:99999", "port 99999 out of range 1%-65535" },
    { ":80", "missing host in ':80'" },
    { "http://[::1", "unclosed '%[' in 'http://%[::1'" },
    { "", "empty target" },
    { "   ", "empty target" },
    { "localhost", "no port in 'localhost' %(use host:port%)" },
    { "localhost:http", "bad port 'http'" },
    { "::1:8080", "IPv6 addresses need brackets" },
    { "[localhost]:80", "is not an IPv6 address" },
    { "0", "port 0 out of range" },
    { "foo://host", "unknown scheme 'foo' and no port" },
    { "unix:", "missing socket path" },
    { "http://", "missing host" },
    { "[::1]x", "unexpected 'x' after '%]'" },
  }
  for _, case in ipairs(bad) do
    it("rejects '" .. case[1] .. "'", function()
      local t, err = target.parse(case[1])
      assert.is_nil(t)
      assert.matches(case[2], err)
    end)
  end

  it("uses a default port when the caller gives one", function()
    local t = target.parse("localhost", { default_port = 443 })
    assert.equal(443, t.port)
  end)
end)
