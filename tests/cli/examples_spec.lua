-- The tutorial's recipe (recipes/examples/webstack.lua) against real servers:
-- nginx on 8443, redis-server on a Unix socket, postgres on 5432, each in a
-- private network namespace.
local testenv = require "testenv"
local dkjson = require "dkjson"
local q = testenv.quote
local recipe = testenv.source_dir .. "/recipes/examples/webstack.lua"

local function pg_bin(name)
  local p = io.popen("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1")
  local dir = p:read("l")
  p:close()
  return dir and (dir .. "/" .. name)
end

-- The --json example of docs/recipes.md (the tutorial's redis-down run), decoded
-- with nulls kept as dkjson.null.
local function docs_example()
  local text = assert(testenv.read_file(testenv.source_dir .. "/docs/recipes.md"))
  local block = assert(text:match("\n```json\n(.-)```\n"), "no ```json block in docs/recipes.md")
  return assert(dkjson.decode(block, 1, dkjson.null), "the docs/recipes.md --json example is not JSON")
end

-- Asserts that two decoded documents have the same shape: the same keys, the
-- same JSON types (null included), arrays of the same length, recursively.
local function assert_same_shape(want, got, path)
  path = path or "document"
  local function kind(v)
    if v == dkjson.null then
      return "null"
    end
    return type(v)
  end
  assert.equal(kind(want), kind(got), path)
  if type(want) ~= "table" then
    return
  end
  assert.equal(#want, #got, path .. " length")
  for k, v in pairs(want) do
    assert_same_shape(v, got[k], path .. "." .. tostring(k))
  end
  for k in pairs(got) do
    assert.is_not_nil(want[k], path .. "." .. tostring(k) .. " is not in the docs example")
  end
end

describe("recipes/examples/webstack.lua", function()
  local dir
  local netns = testenv.per_test_netns(before_each, after_each, function(why)
    pending(why)
  end, {
    needs = { "nginx", "redis-server" },
    check = function()
      return not pg_bin("initdb") and "postgresql not installed" or nil
    end,
    prepare = function()
      dir = testenv.tmpdir()
      os.execute("chmod 755 " .. dir)
    end,
  })

  local function start_nginx()
    local ns = netns() -- first: skips the test when it cannot run
    testenv.write_file(dir .. "/nginx.conf", ([[
daemon off; pid %s/nginx.pid; error_log %s/error.log;
events { worker_connections 64; }
http { access_log off; client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s;
  uwsgi_temp_path %s; scgi_temp_path %s;
  server { listen 127.0.0.1:8443; location / { return 200 "ok\n"; } } }
]]):format(dir, dir, dir, dir, dir, dir, dir))
    testenv.background_in(ns, "timeout 120 nginx -c " .. dir .. "/nginx.conf")
    assert(testenv.wait_listening(ns, "tcp", 8443))
  end

  local function start_redis()
    local ns = netns()
    testenv.background_in(ns, ("timeout 120 redis-server --port 0 --unixsocket %s/redis.sock "
      .. "--save '' --dir %s"):format(dir, dir))
    assert(testenv.wait_socket(dir .. "/redis.sock"))
  end

  local function start_postgres()
    local ns = netns()
    local data = dir .. "/pg"
    assert(os.execute(("mkdir %s && chown postgres %s"):format(data, data)))
    local initdb = ("runuser -u postgres -- %s -D %s -A trust >/dev/null"):format(pg_bin("initdb"), data)
    assert(os.execute(initdb), "initdb failed")
    testenv.background_in(ns, ("timeout 120 runuser -u postgres -- %s -D %s -p 5432 -k %s "
      .. "-c listen_addresses=127.0.0.1"):format(pg_bin("postgres"), data, data))
    assert(testenv.wait_listening(ns, "tcp", 5432))
    return data
  end

  local function webstack(...)
    local args = { q(testenv.bin), q(recipe), "--json", "--redis", q("unix:" .. dir .. "/redis.sock") }
    for _, a in ipairs { ... } do
      args[#args + 1] = q(a)
    end
    local r = testenv.sh(testenv.in_netns(netns(), table.concat(args, " ")))
    return dkjson.decode(r.stdout), r, dkjson.decode(r.stdout, 1, dkjson.null)
  end

  it("says all is up when nginx, redis and postgres answer", function()
    start_nginx()
    start_redis()
    start_postgres()
    local doc, r = webstack()
    assert.equal(0, r.code, r.stderr)
    assert.equal("all-up", doc.verdict)
    assert.equal(4, #doc.findings)
    assert.equal(3, #doc.checks)
  end)

  it("names redis when redis is down, and postgres before the web app", function()
    start_nginx()
    local pg_data = start_postgres()
    local doc, r, with_nulls = webstack()
    assert.equal(1, r.code)
    assert.equal("redis-down", doc.verdict)
    -- why, from diagnose's checks: the socket is missing; its fix, not "run diagnose"
    assert.matches("^why: unix%-socket%-missing: ", doc.findings[1].evidence[1])
    assert.not_matches("connrecipe diagnose", doc.findings[1].fix)
    -- the run docs/recipes.md shows: its --json example has the real shape
    assert_same_shape(docs_example(), with_nulls)
    assert.same({ kind = "inet", host = "localhost", port = 8443, display = "localhost:8443" }, doc.target)
    -- this one by its pid file: a pattern would stop every test's postgres on the machine
    assert(os.execute(("kill $(head -n 1 %s/postmaster.pid)"):format(q(pg_data))))
    assert(testenv.wait_for(function()
      return testenv.sh(testenv.in_netns(netns(), "ss -Hltn sport = :5432")).stdout == ""
    end))
    doc = webstack()
    assert.equal("postgres-down", doc.verdict)
    -- why, from diagnose's checks (no-listener; or starting-up when another run's initdb, whose
    -- namespace could not be read, counts as a postgres here)
    assert.matches("^why: [%w-]+: ", doc.findings[1].evidence[2])
  end)
end)
