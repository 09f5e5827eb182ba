-- cr.sys.proxy_for / proxy_env: the proxy a curl-like client picks, case by
-- case against curl's documented rules (CURLOPT_PROXY, CURLOPT_NOPROXY,
-- curl(1) ENVIRONMENT).
local cr = require "connrecipe"
local testenv = require "testenv"

local P = "http://proxy:3128"

-- { url, env, expected proxy (nil: direct) [, expected variable] }
local CASES = {
  -- scheme selects the variable; http reads lowercase only (httpoxy)
  { "http://example.com/", { http_proxy = P }, P, "http_proxy" },
  { "http://example.com/", { HTTP_PROXY = P }, nil },
  { "https://example.com/", { https_proxy = P }, P, "https_proxy" },
  { "https://example.com/", { HTTPS_PROXY = P }, P, "HTTPS_PROXY" },
  { "https://example.com/", { https_proxy = P, HTTPS_PROXY = "http://other:1" }, P, "https_proxy" },
  { "https://example.com/", { http_proxy = P }, nil },
  { "ftp://example.com/", { ftp_proxy = P }, P, "ftp_proxy" },
  -- all_proxy as the fallback, lowercase first
  { "https://example.com/", { all_proxy = P }, P, "all_proxy" },
  { "http://example.com/", { ALL_PROXY = P }, P, "ALL_PROXY" },
  { "http://example.com/", { http_proxy = P, all_proxy = "socks5://s:1080" }, P, "http_proxy" },
  -- an empty variable means no proxy (and stops the fallback)
  { "http://example.com/", { http_proxy = "", all_proxy = P }, nil },
  -- no_proxy: "*" alone matches everything
  { "http://example.com/", { http_proxy = P, no_proxy = "*" }, nil },
  { "http://example.com/", { http_proxy = P, no_proxy = "*.example.com" }, P },
  -- domain suffixes, with or without a leading dot; whole labels only
  { "http://www.example.com/", { http_proxy = P, no_proxy = "example.com" }, nil },
  { "http://example.com/", { http_proxy = P, no_proxy = ".example.com" }, nil },
  { "http://www.example.com/", { http_proxy = P, no_proxy = ".example.com" }, nil },
  { "http://www.notexample.com/", { http_proxy = P, no_proxy = "example.com" }, P },
  { "http://example.com.evil.net/", { http_proxy = P, no_proxy = "example.com" }, P },
  { "http://WWW.Example.COM/", { http_proxy = P, no_proxy = "example.com" }, nil },
  { "http://example.com./", { http_proxy = P, no_proxy = "example.com" }, nil },
  -- lists separated by commas and spaces, lowercase no_proxy wins over NO_PROXY
  { "http://b.test/", { http_proxy = P, no_proxy = "a.test, b.test" }, nil },
  { "http://c.test/", { http_proxy = P, no_proxy = "a.test b.test" }, P },
  { "http://a.test/", { http_proxy = P, NO_PROXY = "a.test" }, nil },
  { "http://a.test/", { http_proxy = P, no_proxy = "b.test", NO_PROXY = "a.test" }, P },
  -- the URL's port does not matter; an entry with a port matches nothing (curl)
  { "http://localhost:8080/", { http_proxy = P, no_proxy = "localhost" }, nil },
  { "http://localhost:8080/", { http_proxy = P, no_proxy = "localhost:8080" }, P },
  -- IP addresses: exact, CIDR, IPv6 with and without brackets
  { "http://127.0.0.1:8080/", { http_proxy = P, no_proxy = "127.0.0.1" }, nil },
  { "http://127.0.0.5/", { http_proxy = P, no_proxy = "127.0.0.0/8" }, nil },
  { "http://10.1.2.3/", { http_proxy = P, no_proxy = "127.0.0.0/8,10.0.0.0/16" }, P },
  { "http://10.0.200.3/", { http_proxy = P, no_proxy = "127.0.0.0/8,10.0.0.0/16" }, nil },
  { "http://[::1]:8080/", { http_proxy = P, no_proxy = "::1" }, nil },
  { "http://[fd00::5]/", { http_proxy = P, no_proxy = "fd00::/8" }, nil },
  { "http://[fe80::5]/", { http_proxy = P, no_proxy = "fd00::/8" }, P },
  -- a name entry never matches an address and the other way round
  { "http://127.0.0.1/", { http_proxy = P, no_proxy = "localhost" }, P },
  { "http://localhost/", { http_proxy = P, no_proxy = "127.0.0.1" }, P },
  -- user info and a bare host name
  { "http://user:pw@internal.corp:81/x", { http_proxy = P, no_proxy = "corp" }, nil },
  { "example.com", { http_proxy = P }, P },
  -- nothing set
  { "http://example.com/", {}, nil },
}

describe("cr.sys.proxy_for", function()
  for i, case in ipairs(CASES) do
    local url, env, want, var = case[1], case[2], case[3], case[4]
    local envtext = {}
    for k, v in pairs(env) do
      envtext[#envtext + 1] = k .. "=" .. v
    end
    table.sort(envtext)
    it(("#%d %s with %s -> %s"):format(i, url, table.concat(envtext, " "), tostring(want)), function()
      local got, how = cr.sys.proxy_for(url, env)
      assert.equal(want, got, how)
      if var then
        assert.equal(var, how)
      end
      if want == nil then
        assert.is_string(how) -- always says why there is no proxy
      end
    end)
  end

  it("explains which no_proxy entry matched", function()
    local p, why = cr.sys.proxy_for("http://www.example.com", { http_proxy = P, no_proxy = "foo,example.com" })
    assert.is_nil(p)
    assert.equal("no_proxy entry 'example.com' matches www.example.com", why)
  end)

  it("reads this process's environment by default", function()
    local r = testenv.run({ "-e", 'print(cr.sys.proxy_for("https://example.com/"))' },
      { env = "env -i HTTPS_PROXY=http://p:1 no_proxy=other" })
    assert.equal(0, r.code, r.stderr)
    assert.equal("http://p:1\tHTTPS_PROXY\n", r.stdout)
  end)
end)

describe("cr.sys.proxy_env", function()
  it("reads the proxy variables of another process", function()
    local dir = testenv.tmpdir()
    local r = testenv.sh("env -i http_proxy=http://a:1 NO_PROXY=.corp HOME=/ sleep 30 & echo $! >" .. dir .. "/pid")
    assert.equal(0, r.code)
    local pid = tonumber(testenv.read_file(dir .. "/pid"):match("%d+"))
    -- at most 5 s for env to exec sleep: the comm changes during exec a moment
    -- before the new environment is in place, so wait for the environment itself
    for _ = 1, 50 do
      if (testenv.read_file("/proc/" .. pid .. "/environ") or ""):find("http_proxy=", 1, true) then
        break
      end
      os.execute("sleep 0.1")
    end
    local env = assert(cr.sys.proxy_env(pid))
    os.execute("kill " .. pid)
    assert.same({ http_proxy = "http://a:1", NO_PROXY = ".corp" }, env)
  end)

  it("says when the process does not exist", function()
    local env, err = cr.sys.proxy_env(999999999)
    assert.is_nil(env)
    assert.equal("no process 999999999", err)
    assert.has_error(function()
      cr.sys.proxy_env("self; rm")
    end)
  end)
end)

teardown(function()
  testenv.cleanup()
end)
